"""Losses of masked image modelling: pixel reconstruction (MAE, SimMIM) and latent-target regression (data2vec)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


def _check(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
    if pred.ndim != 3 or pred.shape != target.shape or mask.shape != pred.shape[:2]:
        raise ValueError(f"expected pred and target (B, N, D) of one shape and a (B, N) mask, got "
                         f"{tuple(pred.shape)}, {tuple(target.shape)} and {tuple(mask.shape)}")
    if not mask.any():
        raise ValueError("the mask hides no position: a masked loss needs at least one")


def normalize_patches(patches: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each patch standardised over its pixels: ``(x - mean) / sqrt(var + eps)``.

    MAE's ``norm_pix_loss`` target (He et al., 2021, arXiv:2111.06377, section 4);
    ``var`` is the unbiased variance, as ``torch.var`` in the reference code.
    """
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps) ** 0.5


class MaskedReconstructionLoss(nn.Module):
    """Pixel error of predicted patches, averaged over masked patches only.

    MAE (He et al., 2021, arXiv:2111.06377): per-patch mean squared error,
    averaged over the removed patches (``metric="mse"``, with ``norm_pix=True``
    for the normalised-pixel target). SimMIM (Xie et al., 2021,
    arXiv:2111.09886): L1 over masked pixels (``metric="l1"``; all patches have
    the same size, so the mean over masked patches of the per-patch mean is the
    mean over masked pixels). Visible patches never contribute.

    Args:
        metric: ``"mse"`` or ``"l1"``.
        norm_pix: standardise each target patch (:func:`normalize_patches`).
        eps: added to the patch variance when ``norm_pix``.
    """

    def __init__(self, metric: Literal["mse", "l1"] = "mse", norm_pix: bool = False, eps: float = 1e-6) -> None:
        super().__init__()
        if metric not in ("mse", "l1"):
            raise ValueError(f"metric must be 'mse' or 'l1', got {metric!r}")
        if eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.metric, self.norm_pix, self.eps = metric, norm_pix, eps

    def target(self, patches: torch.Tensor) -> torch.Tensor:
        """The regression target of ``(B, N, P)`` image patches."""
        return normalize_patches(patches, self.eps) if self.norm_pix else patches

    def forward(self, pred: torch.Tensor, patches: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred: predicted patches ``(B, N, P)``.
            patches: image patches ``(B, N, P)`` (raw; normalised here when ``norm_pix``).
            mask: ``(B, N)``, ``True`` (or 1) where a patch was masked.

        Returns:
            Scalar mean over masked patches of the per-patch mean error.
        """
        _check(pred, patches, mask)
        diff = pred.float() - self.target(patches.detach().float())
        per_patch = (diff.pow(2) if self.metric == "mse" else diff.abs()).mean(dim=-1)
        m = mask.to(per_patch.dtype)
        return (per_patch * m).sum() / m.sum()


def average_top_k(blocks: list[torch.Tensor], k: int, norm: Literal["layer", "instance", "none"] = "layer",
                  num_prefix_tokens: int = 0, final_norm: bool = False) -> torch.Tensor:
    """data2vec's target: the mean of the last ``k`` block outputs, each normalised first, optionally layer-normed.

    Baevski et al., 2022 (arXiv:2202.03555, section 3.3): instance norm (each
    channel over the positions of an image) for speech, a parameter-free layer
    norm (each position over its channels) for vision and text. The reference
    configurations: data2vec v1 vision, ``norm="none", final_norm=True`` (a
    layer norm of the averaged outputs); data2vec 2.0 (arXiv:2212.07525),
    ``norm="instance", final_norm=True`` on the blocks' FFN outputs.

    Args:
        blocks: block outputs ``(B, T, D)``, input side first.
        k: how many of the last blocks to average (``1 <= k <= len(blocks)``).
        norm: per-block normalisation: ``"layer"``, ``"instance"`` or ``"none"``.
        num_prefix_tokens: leading class / register tokens to drop.
        final_norm: a parameter-free layer norm of the average.

    Returns:
        ``(B, T - num_prefix_tokens, D)`` targets.
    """
    if not 1 <= k <= len(blocks):
        raise ValueError(f"top_k must lie in 1..{len(blocks)} (the number of blocks), got {k}")
    if norm not in ("layer", "instance", "none"):
        raise ValueError(f"norm must be 'layer', 'instance' or 'none', got {norm!r}")
    out = 0.0
    for t in blocks[-k:]:
        t = t[:, num_prefix_tokens:].float()
        if norm == "layer":
            t = F.layer_norm(t, t.shape[-1:])
        elif norm == "instance":
            t = F.instance_norm(t.transpose(1, 2)).transpose(1, 2)
        out = out + t
    out = out / k
    return F.layer_norm(out, out.shape[-1:]) if final_norm else out


class Data2VecLoss(nn.Module):
    """Regression of teacher targets at masked positions (Baevski et al., 2022, "data2vec", arXiv:2202.03555).

    Smooth L1 with threshold ``beta`` (squared error below ``beta``, L1 above;
    data2vec vision uses ``beta = 2``) or plain MSE, averaged over the masked
    positions and the feature dimension. Targets are constants (no gradient).

    Args:
        loss: ``"smooth_l1"`` or ``"mse"``.
        beta: smooth-L1 threshold, ``> 0``.
    """

    def __init__(self, loss: Literal["smooth_l1", "mse"] = "smooth_l1", beta: float = 2.0) -> None:
        super().__init__()
        if loss not in ("smooth_l1", "mse"):
            raise ValueError(f"loss must be 'smooth_l1' or 'mse', got {loss!r}")
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        self.loss, self.beta = loss, beta

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred: student predictions ``(B, N, D)``.
            target: teacher targets ``(B, N, D)``.
            mask: ``(B, N)`` boolean, ``True`` at the positions to regress.

        Returns:
            Scalar mean over masked positions and channels.
        """
        _check(pred, target, mask)
        p, t = pred[mask.bool()].float(), target[mask.bool()].detach().float()
        if self.loss == "mse":
            return F.mse_loss(p, t)
        return F.smooth_l1_loss(p, t, beta=self.beta)
