"""The training-views panel: one grid of the augmented views a method trains on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn

from sslkit.callbacks.dashboard.panel import DASHBOARD_DIR, auto_upscale, pixel_stats
from sslkit.callbacks.images import log_image_file, save_png, unnormalize


class ViewsGrid(L.Callback):
    """Once per run, a grid of the augmented views the method trains on.

    The first training batch after the DataModule's augmentation (on the device
    path, ``on_after_batch_transfer``; on the worker path, the collated views):
    one row per view (``views[0]``, ``views[1]``, ... in the method's order,
    multi-crop included), one column per image, un-normalised with the
    DataModule's ``mean`` / ``std``. Saved as ``dashboard/views.png`` and logged
    as ``dash/views``. Smaller views (multi-crop) are magnified to the largest. Batches
    that are not lists of image tensors (text) are skipped. Whether the grid was
    made is saved in checkpoints, so a resumed run does not make it again.

    Args:
        num_images: images per row.
        upscale: nearest-neighbour magnification; default: enough to show about 48 pixels.
        padding: pixels between images (white).
    """

    def __init__(self, num_images: int = 8, upscale: int | None = None, padding: int = 2) -> None:
        if num_images < 1 or (upscale is not None and upscale < 1) or padding < 0:
            raise ValueError("ViewsGrid needs num_images >= 1, upscale >= 1 (or null for automatic) and padding >= 0")
        self.num_images, self.upscale, self.padding = num_images, upscale, padding
        self.done = False
        self.last_path: Path | None = None

    def grid(self, views: list[torch.Tensor], mean: Any, std: Any) -> torch.Tensor:
        """The ``(3, H, W)`` grid in ``[0, 1]``: one row of ``num_images`` per view."""
        from torchvision.utils import make_grid

        size = max(v.shape[-1] for v in views)
        up = self.upscale or auto_upscale(size)
        rows = []
        for v in views:
            v = unnormalize(v[: self.num_images], mean, std)
            if v.shape[-1] != size * up or v.shape[-2] != size * up:
                v = F.interpolate(v, size=(size * up, size * up), mode="nearest")
            if v.shape[1] == 1:
                v = v.expand(-1, 3, -1, -1)
            rows.append(v)
        return make_grid(torch.cat(rows), nrow=rows[0].shape[0], padding=self.padding, pad_value=1.0)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self.done or not trainer.is_global_zero:
            return
        self.done = True
        views = batch[0] if isinstance(batch, (list, tuple)) and len(batch) == 2 else None
        if not (isinstance(views, (list, tuple)) and views and all(isinstance(v, torch.Tensor) and v.ndim == 4 for v in views)):
            return
        mean, std = pixel_stats(trainer)
        n = min(self.num_images, min(v.shape[0] for v in views))
        try:
            grid = self.grid([v[:n] for v in views], mean, std)
            path = save_png(grid, Path(trainer.default_root_dir) / DASHBOARD_DIR / "views.png")
            log_image_file(trainer, "dash/views", path)
        except Exception as err:  # noqa: BLE001  (a panel never stops a run)
            rank_zero_warn(f"ViewsGrid: no views grid ({type(err).__name__}: {err})")
            return
        self.last_path = path

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.done = bool(state_dict.get("done", self.done))
