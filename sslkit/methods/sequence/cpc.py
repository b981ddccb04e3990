"""Contrastive predictive coding on a grid of image patches."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from sslkit.heads.sequence import RowCausalContext
from sslkit.losses.cpc import CPCLoss
from sslkit.methods.base import SSLMethod


def grid_patches(x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """The ``(B, rows, cols, C, size, size)`` grid of (overlapping if ``stride < size``) patches of ``(B, C, H, W)``
    images, row-major; ``rows = (H - size) // stride + 1`` (a remainder at the bottom/right is dropped)."""
    if size > min(x.shape[-2:]):
        raise ValueError(f"patch_size={size} is larger than the {tuple(x.shape[-2:])} images")
    return x.unfold(2, size, stride).unfold(3, size, stride).permute(0, 2, 3, 1, 4, 5)


class CPC(SSLMethod):
    """Contrastive predictive coding for images (van den Oord et al., 2018,
    "Representation Learning with Contrastive Predictive Coding", arXiv:1807.03748;
    Hénaff et al., 2019, "Data-Efficient Image Recognition with Contrastive
    Predictive Coding", arXiv:1905.09272).

    Each image is cut into a grid of ``patch_size`` patches every ``patch_stride``
    pixels (overlapping when the stride is smaller); the backbone embeds every
    patch on its own, ``z[b, i, j]``. A context network masked over rows
    (:class:`~sslkit.heads.sequence.RowCausalContext`) summarises rows ``<= i``
    into ``c[b, i, j]``, and a linear map per step ``k = first_step .. first_step
    + steps - 1`` predicts ``z[b, i + k, j]`` from it. The first step defaults
    to the nearest row whose patches do not overlap the context's own patch
    (``ceil(patch_size / patch_stride)``): with overlap, the positive shares
    pixels with the context and is found by low-level matching (deepul's CPC
    ignores the first 2 steps of its half-overlapping grid for this reason). :class:`~sslkit.losses.CPCLoss` scores each
    prediction against every patch of the batch (InfoNCE; the other positions of
    the same image and the other images are the negatives). Logs ``train/loss``
    and ``train/acc`` (share of predictions whose best-scored patch is the positive).

    Evaluation (``embed``) is the backbone on the whole image (``embed_mode:
    image``, what transfer uses) or the mean of its features over the grid of
    patches (``patches``, the features CPC trains; one pass per patch).

    Args:
        patch_size: side of a patch in pixels.
        patch_stride: pixels between patch origins (``patch_size // 2``: Hénaff's half overlap).
        steps: number of prediction steps (rows ahead), ``K``.
        first_step: the nearest row ahead predicted (``None``: ``ceil(patch_size / patch_stride)``,
            the first row that shares no pixel with the context's patch).
        context_dim: width of the context vectors.
        context_layers: masked-conv blocks of the context network.
        temperature: InfoNCE temperature (CPC: 1 on raw dot products).
        normalize: cosine scores instead of dot products.
        embed_mode: ``"image"`` or ``"patches"`` (see above).
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (1, 1)

    def __init__(self, patch_size: int = 8, patch_stride: int = 4, steps: int = 2, first_step: int | None = None,
                 context_dim: int = 256,
                 context_layers: int = 2, temperature: float = 1.0, normalize: bool = False,
                 embed_mode: Literal["image", "patches"] = "image", **kwargs) -> None:
        super().__init__(**kwargs)
        first_step = -(-patch_size // patch_stride) if first_step is None else first_step
        if patch_size < 1 or not 0 < patch_stride <= patch_size or steps < 1 or first_step < 1:
            raise ValueError(f"need patch_size >= 1, 0 < patch_stride <= patch_size, steps >= 1 and first_step >= 1; "
                             f"got {patch_size}, {patch_stride}, {steps}, {first_step}")
        if embed_mode not in ("image", "patches"):
            raise ValueError(f"embed_mode must be 'image' or 'patches', got {embed_mode!r}")
        width = self.backbone.num_features
        self.patch_size, self.patch_stride, self.embed_mode = patch_size, patch_stride, embed_mode
        self.step_sizes = list(range(first_step, first_step + steps))
        self.context = RowCausalContext(width, context_dim, context_layers)
        self.predictors = nn.ModuleList(nn.Linear(context_dim, width) for _ in range(steps))
        self.criterion = CPCLoss(temperature, normalize)

    def patch_features(self, x: torch.Tensor, encode=None) -> torch.Tensor:
        """``(B, rows, cols, D)`` features of the grid of patches of ``x`` (``encode``: the backbone by default)."""
        patches = grid_patches(x, self.patch_size, self.patch_stride)
        b, rows, cols = patches.shape[:3]
        return (encode or self.backbone)(patches.reshape(-1, *patches.shape[3:])).view(b, rows, cols, -1)

    def predictions(self, z: torch.Tensor) -> dict[int, torch.Tensor]:
        """Per step ``k``, predictions ``(B, rows - k, cols, D)`` of ``z[:, k:]`` (from the contexts of rows
        ``< rows - k``)."""
        rows = z.shape[1]
        if rows <= self.step_sizes[-1]:
            raise ValueError(f"the patch grid has {rows} rows, too few to predict {self.step_sizes[-1]} rows ahead "
                             f"(steps {self.step_sizes}); lower steps, first_step or patch_stride, "
                             f"or use larger images")
        c = self.context(z)
        return {k: head(c[:, : rows - k]) for k, head in zip(self.step_sizes, self.predictors)}

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        z = self.patch_features(views[0])
        loss, acc = self.criterion.terms(self.predictions(z), z)
        return {"loss": loss, "acc": acc}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed_mode == "image":
            return super().embed(x)
        return self.patch_features(x, encode=super().embed).mean(dim=(1, 2))
