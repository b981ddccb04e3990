"""data2vec (vision)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from sslkit.losses.masked import Data2VecLoss, average_top_k
from sslkit.methods.base import SSLMethod
from sslkit.methods.masked.common import vit_grid
from sslkit.utils.masking import random_masking, vit_tokens
from sslkit.utils.momentum import MomentumEncoder


class Data2Vec(SSLMethod):
    """data2vec for images (Baevski et al., 2022, "data2vec: A General Framework
    for Self-supervised Learning in Speech, Vision and Language", arXiv:2202.03555).

    The student (the ViT backbone) sees each image with ``round(mask_ratio * N)``
    patch embeddings replaced by a learnable mask token; a momentum (EMA) copy
    of the backbone, the teacher, sees the full image. The targets are the
    teacher's last ``top_k`` block outputs, each normalised (``target_norm``,
    parameter-free layer norm for vision in the paper) and averaged, computed
    without gradients; a linear head on the student's final tokens regresses
    them at the masked positions with smooth L1 (``beta``) or MSE. The teacher
    follows the student by EMA, ``tau`` from ``base_tau`` to ``final_tau``
    (stepped by the base after each optimizer step). Evaluation embeds full
    images with the student backbone.

    Reference targets: v1 vision is ``target_norm: none, final_norm: true``
    (layer norm of the averaged block outputs); data2vec 2.0 (Baevski et al.,
    2022, arXiv:2212.07525) is ``target_norm: instance, final_norm: true,
    target_layer: ffn`` (each block's FFN output before its residual add).

    Patches are masked uniformly at random per image (the paper uses BEiT's
    block-wise masking of 60% of the patches).

    Args:
        mask_ratio: fraction of patches masked in the student's input.
        top_k: teacher blocks averaged into the target (6 of 12 in the paper).
        target_norm: per-block normalisation: ``"layer"``, ``"instance"`` or ``"none"``.
        final_norm: a parameter-free layer norm of the averaged target.
        target_layer: what each teacher block gives: ``"block"`` (its output) or ``"ffn"`` (its FFN
            branch before the residual add, as in data2vec 2.0).
        loss: ``"smooth_l1"`` or ``"mse"``.
        beta: smooth-L1 threshold (2 for vision in the paper).
        base_tau: teacher decay rate at the start (0.999 in the paper).
        final_tau: teacher decay rate at the end (0.9998 in the paper).
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`; the backbone must be a timm ViT.
    """

    num_views = (1, 1)

    def __init__(self, mask_ratio: float = 0.6, top_k: int = 6, target_norm: Literal["layer", "instance", "none"] =
                 "layer", final_norm: bool = False, target_layer: Literal["block", "ffn"] = "block",
                 loss: Literal["smooth_l1", "mse"] = "smooth_l1", beta: float = 2.0, base_tau: float = 0.999,
                 final_tau: float = 0.9998, **kwargs) -> None:
        super().__init__(**kwargs)
        grid = vit_grid(self.backbone, "Data2Vec")
        random_masking(1, grid[0] * grid[1], mask_ratio)  # a bad ratio fails here
        depth = len(self.backbone.model.blocks)
        if not 1 <= top_k <= depth:
            raise ValueError(f"top_k={top_k} must lie in 1..{depth} (the backbone's blocks)")
        if target_norm not in ("layer", "instance", "none"):
            raise ValueError(f"target_norm must be 'layer', 'instance' or 'none', got {target_norm!r}")
        if target_layer not in ("block", "ffn"):
            raise ValueError(f"target_layer must be 'block' or 'ffn', got {target_layer!r}")
        self.mask_ratio, self.top_k, self.target_norm = mask_ratio, top_k, target_norm
        self.final_norm, self.target_layer = final_norm, target_layer
        width = self.backbone.num_features
        self.mask_token = nn.Parameter(torch.randn(width) * 0.02)
        self.regressor = nn.Linear(width, width)
        self.teacher = MomentumEncoder(self.backbone, base_tau=base_tau, final_tau=final_tau)
        self.criterion = Data2VecLoss(loss, beta)

    @torch.no_grad()
    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher targets ``(B, N, D)`` for full images ``x``: normalised top-k block (or FFN) outputs, averaged."""
        teacher = self.teacher.encoder[0]
        was_training = teacher.training
        teacher.eval()  # no drop-path / dropout in the targets
        ffn: list[torch.Tensor] = []
        hooks = [b.ls2.register_forward_hook(lambda _m, _a, out: ffn.append(out)) for b in teacher.model.blocks] \
            if self.target_layer == "ffn" else []
        try:
            _, blocks = vit_tokens(teacher, x)
        finally:
            teacher.train(was_training)
            for h in hooks:
                h.remove()
        return average_top_k(ffn or blocks, self.top_k, self.target_norm, teacher.num_prefix_tokens, self.final_norm)

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = views[0]
        target = self.targets(x)
        mask = random_masking(x.shape[0], target.shape[1], self.mask_ratio, x.device).mask
        tokens, _ = vit_tokens(self.backbone, x, mask, self.mask_token)
        pred = self.regressor(tokens[:, self.backbone.num_prefix_tokens:])
        return {"loss": self.criterion(pred, target, mask), "target_std": target.std(dim=(0, 1)).mean()}
