"""InfoNCE and the contrastive-predictive-coding loss over a grid of patch embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InfoNCELoss(nn.Module):
    """InfoNCE (van den Oord et al., 2018, "Representation Learning with
    Contrastive Predictive Coding", arXiv:1807.03748).

    Each prediction ``p_n`` classifies its positive among ``M`` candidates by a
    softmax over scores ``s(p_n, c_m) / temperature``:
    ``L = -mean_n log softmax_m(s(p_n, c_m) / t)[target_n]``. The score is the
    dot product (the paper's log-bilinear model once the predictor is folded
    into ``p``) or, with ``normalize``, the cosine.

    Args:
        temperature: softmax temperature, > 0.
        normalize: L2-normalise predictions and candidates first (cosine scores).
    """

    def __init__(self, temperature: float = 1.0, normalize: bool = False) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature, self.normalize = temperature, normalize

    def logits(self, predictions: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Scores ``(N, M)`` of ``(N, D)`` predictions against ``(M, D)`` candidates, in float32."""
        if predictions.ndim != 2 or candidates.ndim != 2 or predictions.shape[1] != candidates.shape[1]:
            raise ValueError(f"expected (N, D) predictions and (M, D) candidates, got {tuple(predictions.shape)} "
                             f"and {tuple(candidates.shape)}")
        p, c = predictions.float(), candidates.float()  # softmax in full precision under AMP
        if self.normalize:
            p, c = F.normalize(p, dim=1), F.normalize(c, dim=1)
        return p @ c.T / self.temperature

    def forward(self, predictions: torch.Tensor, candidates: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean InfoNCE of ``(N, D)`` predictions whose positives are ``candidates[targets]``
        (``targets``: ``(N,)``)."""
        if targets.shape != (predictions.shape[0],):
            raise ValueError(f"targets must be ({predictions.shape[0]},), got {tuple(targets.shape)}")
        return F.cross_entropy(self.logits(predictions, candidates), targets)


def grid_targets(batch: int, rows: int, cols: int, step: int, device: torch.device | None = None) -> torch.Tensor:
    """Flat indices (into the ``(batch * rows * cols)`` patches, row-major) of the patch ``step`` rows
    below each context position ``(b, i, j)`` with ``i < rows - step``, in the same row-major order."""
    if not 0 < step < rows:
        raise ValueError(f"step must be in [1, rows - 1] = [1, {rows - 1}], got {step}")
    return torch.arange(batch * rows * cols, device=device).view(batch, rows, cols)[:, step:].reshape(-1)


class CPCLoss(nn.Module):
    """The CPC objective on a grid of patches (van den Oord et al., 2018,
    arXiv:1807.03748; Hénaff et al., 2019, "Data-Efficient Image Recognition
    with Contrastive Predictive Coding", arXiv:1905.09272).

    For every prediction step ``k`` (any set of steps) the context at row ``i``, column ``j``
    predicts the embedding of the patch ``k`` rows below, ``z[b, i + k, j]``;
    the candidates are *every* patch embedding of the batch (the other
    positions of the same image and all patches of the other images), so the
    positive is one of ``B * rows * cols``. The loss is the mean over steps of
    the :class:`InfoNCELoss` averaged over the ``B * (rows - k) * cols`` contexts.
    Negatives come from the local batch only (no gathering across processes).

    Args:
        temperature: softmax temperature (CPC: 1, raw dot products).
        normalize: cosine scores instead of dot products.
    """

    def __init__(self, temperature: float = 1.0, normalize: bool = False) -> None:
        super().__init__()
        self.infonce = InfoNCELoss(temperature, normalize)

    def logits_and_targets(self, prediction: torch.Tensor, z: torch.Tensor,
                           step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores ``(B * (rows - step) * cols, B * rows * cols)`` and the positives' indices for one step.

        Args:
            prediction: ``(B, rows - step, cols, D)`` predictions made from the contexts of rows
                ``0 .. rows - step - 1``.
            z: ``(B, rows, cols, D)`` patch embeddings (the candidates).
            step: how many rows below the context the positive lies.
        """
        b, rows, cols, d = z.shape
        if prediction.shape != (b, rows - step, cols, d):
            raise ValueError(f"step {step}: predictions must be {(b, rows - step, cols, d)}, "
                             f"got {tuple(prediction.shape)}")
        logits = self.infonce.logits(prediction.reshape(-1, d), z.reshape(-1, d))
        return logits, grid_targets(b, rows, cols, step, z.device)

    def terms(self, predictions: dict[int, torch.Tensor], z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, accuracy)``: the loss of :meth:`forward` and the detached share of predictions whose
        best-scored candidate is the positive (averaged over steps like the loss)."""
        if z.ndim != 4 or not predictions:
            raise ValueError(f"expected (B, rows, cols, D) embeddings and at least one step, got {tuple(z.shape)}")
        losses, hits = [], []
        for k, p in predictions.items():
            logits, targets = self.logits_and_targets(p, z, k)
            losses.append(F.cross_entropy(logits, targets))
            hits.append((logits.detach().argmax(1) == targets).float().mean())
        return torch.stack(losses).mean(), torch.stack(hits).mean()

    def forward(self, predictions: dict[int, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        """Mean over the steps ``k`` of the InfoNCE of ``predictions[k]`` against ``z``.

        Args:
            predictions: ``{k: (B, rows - k, cols, D)}``, the predictions of the patches ``k`` rows below
                the contexts of rows ``0 .. rows - k - 1``.
            z: ``(B, rows, cols, D)`` patch embeddings (candidates and positives).
        """
        return self.terms(predictions, z)[0]
