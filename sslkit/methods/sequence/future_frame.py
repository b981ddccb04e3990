"""Future-frame prediction on video clips."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.heads.sequence import FrameDecoder
from sslkit.methods.base import SSLMethod


class FutureFrame(SSLMethod):
    """Future-frame prediction (Srivastava et al., 2015, "Unsupervised Learning of
    Video Representations using LSTMs", arXiv:1502.04681; Mathieu et al., 2016,
    "Deep multi-scale video prediction beyond mean square error", arXiv:1511.05440),
    with optional frame-order verification (Misra et al., 2016, "Shuffle and
    Learn", arXiv:1603.08561).

    The views are the frames of a clip in time order (``MovingDigitsDataModule``).
    The backbone encodes every frame into its token map ``(D, h, w)``; for every
    window of ``context_frames`` consecutive frames a
    :class:`~sslkit.heads.sequence.FrameDecoder` (temporal convolutions over the
    stacked maps, then an upsampling decoder) predicts the ``horizon`` frames that
    follow. The loss is the MSE (or L1) between predicted and true frames, in the
    normalised pixel space, over all windows of the clip. Position and motion
    must pass through the encoder's maps, identity through its channels.

    With ``order_weight > 0`` a small MLP on the pooled features of three frames
    ``a < b < c`` of each clip also tells the true order from a shuffled one
    (``(b, a, c)`` or ``(a, c, b)``), with binary cross-entropy:
    ``L = L_frame + order_weight * L_order``. Logs ``train/frame_loss`` (and
    ``train/order_loss``, ``train/order_acc``).

    Evaluation embeds single frames with the backbone (``embed``).

    Args:
        context_frames: frames a prediction is made from.
        horizon: future frames predicted from each window.
        loss: ``"mse"`` or ``"l1"`` on the predicted frames.
        hidden_dim: width of the decoder's map-level (temporal) convolutions.
        pixel_hidden_dim: width of the decoder's full-resolution convolutions.
        channels: channels of a frame.
        order_weight: weight of the frame-order verification loss (0: off).
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (2, None)
    views_fix = ("the views are a clip's frames: use sslkit.data.MovingDigitsDataModule (or another clip DataModule) "
                 "with num_frames >= context_frames + horizon")

    def __init__(self, context_frames: int = 3, horizon: int = 1, loss: Literal["mse", "l1"] = "mse",
                 hidden_dim: int = 128, pixel_hidden_dim: int = 32, channels: int = 3, order_weight: float = 0.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if context_frames < 1 or horizon < 1 or order_weight < 0 or loss not in ("mse", "l1"):
            raise ValueError("need context_frames >= 1, horizon >= 1, order_weight >= 0 and loss 'mse' or 'l1'")
        self.num_views = (max(context_frames + horizon, 3 if order_weight > 0 else 2), None)
        width = self.backbone.num_features
        self.context_frames, self.horizon, self.loss, self.order_weight = context_frames, horizon, loss, order_weight
        self.decoder = FrameDecoder(width, context_frames, channels, horizon, hidden_dim, pixel_hidden_dim)
        self.order_head = (nn.Sequential(nn.Linear(3 * width, width), nn.ReLU(inplace=True), nn.Linear(width, 1))
                           if order_weight > 0 else None)

    def frame_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's token map of ``(N, C, H, W)`` frames as ``(N, D, h, w)`` (prefix tokens dropped)."""
        tokens = self.backbone.forward_tokens(x)[:, int(getattr(self.backbone, "num_prefix_tokens", 0) or 0):]
        side = math.isqrt(tokens.shape[1])
        if side * side != tokens.shape[1]:
            raise ValueError(f"FutureFrame needs a square token map, got {tokens.shape[1]} tokens")
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, side, side)

    def predict(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predictions and targets ``(B, W, horizon, C, H, W)`` for the ``W`` windows of ``(B, T, C, H, W)`` clips,
        and the frame maps ``(B, T, D, h, w)``."""
        b, t, c, h, w = frames.shape
        k = self.context_frames
        if t < k + self.horizon:
            raise ValueError(f"clips of {t} frames are too short for context_frames={k} + horizon={self.horizon}")
        maps = self.frame_maps(frames.flatten(0, 1)).unflatten(0, (b, t))
        starts = range(k, t - self.horizon + 1)
        inputs = torch.stack([maps[:, s - k:s] for s in starts], 1)  # (B, W, k, D, h', w')
        targets = torch.stack([frames[:, s:s + self.horizon] for s in starts], 1)
        preds = self.decoder(inputs.flatten(0, 1), (h, w)).unflatten(0, (b, len(starts)))
        return preds, targets, maps

    def order_terms(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame-order loss and accuracy from pooled per-frame features ``(B, T, D)``: one ordered and one
        shuffled triplet per clip."""
        b, t, _ = feats.shape
        abc = torch.rand(b, t, device=feats.device).argsort(1)[:, :3].sort(1).values  # a < b < c
        swap = torch.where(torch.rand(b, 1, device=feats.device) < 0.5, torch.tensor([1, 0, 2], device=feats.device),
                           torch.tensor([0, 2, 1], device=feats.device))
        shuffled = abc.gather(1, swap)
        idx = torch.cat([abc, shuffled])  # (2B, 3): ordered first
        triplets = feats.repeat(2, 1, 1).gather(1, idx.unsqueeze(-1).expand(-1, -1, feats.shape[-1]))
        logits = self.order_head(triplets.flatten(1)).squeeze(1).float()
        target = torch.cat([torch.ones(b), torch.zeros(b)]).to(logits)
        return F.binary_cross_entropy_with_logits(logits, target), ((logits > 0).float() == target).float().mean()

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        preds, targets, maps = self.predict(torch.stack(views, 1))
        frame_loss = (F.mse_loss if self.loss == "mse" else F.l1_loss)(preds.float(), targets.float())
        out = {"loss": frame_loss, "frame_loss": frame_loss}
        if self.order_head is not None:
            out["order_loss"], out["order_acc"] = self.order_terms(maps.mean(dim=(3, 4)))
            out["loss"] = frame_loss + self.order_weight * out["order_loss"]
        return out

    @torch.no_grad()
    def preview_images(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor | None:
        """Clips ``(N, T, C, H, W)`` (or a list of ``T`` frame batches) -> ``(N * 2 * W, C, H, W)``: per clip the
        ``W`` true next frames, then the ``W`` predicted ones (a grid ``W`` wide alternates true and predicted
        rows). Single frames ``(N, C, H, W)`` carry no motion: ``None``."""
        frames = torch.stack(x, 1) if isinstance(x, (list, tuple)) else x
        if frames.ndim != 5:
            return None
        preds, targets, _ = self.predict(frames)
        return torch.cat([targets[:, :, 0], preds[:, :, 0].to(targets.dtype)], 1).flatten(0, 1)
