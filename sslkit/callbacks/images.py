"""Image grids of what a method makes (reconstructions, samples), saved as PNG and logged to W&B.

The helpers here (:func:`unnormalize`, :func:`save_png`, :func:`log_image_file`,
:func:`log_to_wandb`) are shared by the dashboard callbacks: every panel is a
file under the run directory first, then logged to each W&B logger.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import WandbLogger

from sslkit.data.contracts import LabelledData, check_labelled


def unnormalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float], upscale: int = 1) -> torch.Tensor:
    """Normalised ``(N, C, H, W)`` images back to ``[0, 1]`` (float32, CPU), magnified ``upscale`` times (nearest)."""
    c = images.shape[1]
    mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)[:, :c]
    std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)[:, :c]
    images = (images.detach().float().cpu() * std + mean).clamp(0, 1)
    if upscale > 1:
        images = F.interpolate(images, scale_factor=upscale, mode="nearest")
    return images


def save_png(grid: torch.Tensor, path: Path) -> Path:
    """Save a ``(C, H, W)`` image in ``[0, 1]`` as a PNG, creating its folder."""
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, path)
    return path


def wandb_loggers(trainer: L.Trainer) -> list[WandbLogger]:
    """The trainer's W&B loggers (none when W&B is disabled)."""
    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


def log_image_file(trainer: L.Trainer, key: str, path: Path) -> None:
    """Log the image file ``path`` as ``key`` to every W&B logger of ``trainer``, at the current step."""
    for logger in wandb_loggers(trainer):
        logger.log_image(key=key, images=[str(path)], step=trainer.global_step)


def log_to_wandb(trainer: L.Trainer, items: dict[str, Any]) -> None:
    """Log W&B objects (``wandb.Table``, plots) to every W&B logger of ``trainer``, at the current step."""
    for logger in wandb_loggers(trainer):
        logger.log_metrics(items, step=trainer.global_step)


class ImageGrid(L.Callback):
    """After every ``every_n_epochs``-th validation, a grid of the method's :meth:`preview_images`.

    A fixed batch of the first ``num_images`` clean validation images
    (``trainer.datamodule.labelled_dataset("val")``) goes to
    ``pl_module.preview_images(x)`` in eval mode without gradients. When it
    returns images, they are un-normalised with the DataModule's ``mean`` /
    ``std``, clipped to ``[0, 1]`` and laid out one row per ``num_images``:
    for reconstructions (``pl_module.preview_reconstructs``, default true) the
    originals come first, then the outputs (a method may return several rows,
    e.g. noisy inputs and denoised ones). The grid is saved as
    ``<default_root_dir>/images/<epoch>.png`` and logged as ``images/preview``
    to every :class:`~lightning.pytorch.loggers.WandbLogger`. Nothing happens
    during the sanity check, on ranks other than 0, or when the method returns
    ``None``.

    Args:
        num_images: images per row (taken from the start of the validation split).
        upscale: integer nearest-neighbour magnification of each image (small images, e.g. 8x8 digits).
        every_n_epochs: make a grid every this many validations' epochs.
        padding: pixels between images (white).
    """

    def __init__(self, num_images: int = 8, upscale: int = 1, every_n_epochs: int = 1, padding: int = 2) -> None:
        if num_images < 1 or upscale < 1 or every_n_epochs < 1 or padding < 0:
            raise ValueError("ImageGrid needs num_images, upscale, every_n_epochs >= 1 and padding >= 0")
        self.num_images, self.upscale, self.every_n_epochs, self.padding = num_images, upscale, every_n_epochs, padding
        self.last_path: Path | None = None

    def inputs(self, datamodule: LabelledData) -> torch.Tensor:
        """The fixed preview batch: the first ``num_images`` clean validation images."""
        ds = check_labelled(datamodule, "ImageGrid", needs=("labelled_dataset",)).labelled_dataset("val")
        return torch.stack([ds[i][0] for i in range(min(self.num_images, len(ds)))])

    def grid(self, x: torch.Tensor, out: torch.Tensor, mean, std, reconstructs: bool) -> torch.Tensor:
        """The ``(3, H, W)`` grid in ``[0, 1]`` of inputs ``x`` (if ``reconstructs``) and outputs ``out``."""
        from torchvision.utils import make_grid

        images = unnormalize(torch.cat([x, out.to(x)]) if reconstructs else out.to(x), mean, std, self.upscale)
        return make_grid(images, nrow=x.shape[0], padding=self.padding, pad_value=1.0)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        if (trainer.sanity_checking or not trainer.is_global_zero or dm is None
                or (trainer.current_epoch + 1) % self.every_n_epochs):
            return
        x = self.inputs(dm).to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        try:
            with torch.no_grad():
                out = pl_module.preview_images(x)
        finally:
            pl_module.train(was_training)
        if out is None:
            return
        grid = self.grid(x.cpu(), out.detach().cpu(), dm.mean, dm.std, pl_module.preview_reconstructs)
        path = save_png(grid, Path(trainer.default_root_dir) / "images" / f"{trainer.current_epoch}.png")
        self.last_path = path
        log_image_file(trainer, "images/preview", path)
