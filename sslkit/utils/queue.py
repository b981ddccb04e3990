"""A fixed-size FIFO queue of feature vectors (MoCo negatives, NNCLR support set)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.utils.distributed import gather_with_grad


class FeatureQueue(nn.Module):
    """A ring buffer of the ``size`` most recent feature vectors.

    The features and the write pointer are registered buffers, so the queue is
    saved in checkpoints and moved with the module. It starts filled with
    random unit vectors (as in MoCo, He et al., 2020, arXiv:1911.05722);
    ``num_seen`` counts the vectors enqueued so far. :meth:`enqueue` first
    gathers the keys of every process, so all processes hold the same queue.

    Args:
        size: number of vectors kept, >= 1.
        dim: feature size, >= 1.
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"FeatureQueue needs size >= 1 and dim >= 1, got size={size}, dim={dim}")
        self.size, self.dim = size, dim
        self.register_buffer("features", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("num_seen", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Append ``keys`` (``(B, dim)``, gathered from every process), overwriting the oldest entries.

        If more than ``size`` keys arrive at once, only the last ``size`` are kept.
        """
        if keys.ndim != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"expected keys of shape (B, {self.dim}), got {tuple(keys.shape)}")
        keys = gather_with_grad(keys.detach())
        self.num_seen.add_(keys.shape[0])
        keys = keys[-self.size:].to(self.features.dtype)
        n = keys.shape[0]
        # the pointer stays on the device: int(self.ptr) would make the host wait for the GPU every step
        idx = (self.ptr + torch.arange(n, device=self.features.device)) % self.size
        self.features[idx] = keys
        self.ptr.copy_((self.ptr + n) % self.size)

    def forward(self) -> torch.Tensor:
        """The queue contents ``(size, dim)``: a clone, so a loss that saved it for
        backward is not invalidated by a later in-place :meth:`enqueue`."""
        return self.features.clone()
