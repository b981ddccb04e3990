"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.utils.distributed import gather_pair


class NTXentLoss(nn.Module):
    """NT-Xent loss (Chen et al., 2020, "A Simple Framework for Contrastive
    Learning of Visual Representations", arXiv:2002.05709).

    For ``N`` pairs of embeddings, each of the ``2N`` samples is classified
    against the other ``2N - 1``: its positive is the other view of the same
    image. Under DDP the candidates are gathered from every process with
    gradients, so the loss equals the single-process loss on the global batch.

    Args:
        temperature: softmax temperature, > 0.
        gather_distributed: use negatives from every process when running distributed.
    """

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            z_a: embeddings of the first views, shape ``(N, D)``.
            z_b: embeddings of the second views, shape ``(N, D)``.

        Returns:
            Scalar mean loss over the ``2N`` local samples.
        """
        if z_a.shape != z_b.shape or z_a.ndim != 2:
            raise ValueError(f"expected two (N, D) tensors of one shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
        n = z_a.shape[0]
        local = F.normalize(torch.cat([z_a, z_b]), dim=1)  # (2N, D), rows: a_0..a_{N-1}, b_0..b_{N-1}
        if self.gather_distributed:
            z_a_all, z_b_all, offset = gather_pair(local[:n], local[n:])
        else:
            z_a_all, z_b_all, offset = local[:n], local[n:], 0
        candidates = torch.cat([z_a_all, z_b_all])  # (2M, D)
        m = z_a_all.shape[0]
        logits = local @ candidates.T / self.temperature  # (2N, 2M)
        idx = torch.arange(n, device=local.device) + offset
        self_idx = torch.cat([idx, idx + m])
        pos_idx = torch.cat([idx + m, idx])
        rows = torch.arange(2 * n, device=local.device)
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()  # softmax in full precision under AMP
        logits[rows, self_idx] = float("-inf")  # a sample is never its own candidate
        return F.cross_entropy(logits, pos_idx)
