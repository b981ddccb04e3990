"""Dashboard panels beyond the scalars: the training views, an embedding map and a retrieval grid.

Every panel is written under ``<default_root_dir>/dashboard/`` first and then
logged to every :class:`~lightning.pytorch.loggers.WandbLogger` under a
``dash/`` key, so nothing depends on W&B (see docs/dashboards.md):

========================  ==================================================  ==========================
panel                     file                                                W&B key
========================  ==================================================  ==========================
training views            ``dashboard/views.png``                             ``dash/views``
embedding map             ``dashboard/embedding_map/<epoch>.png`` + ``.csv``  ``dash/embedding_map``,
                                                                              ``dash/embedding_points``
                                                                              (table), ``dash/embedding_scatter``
retrieval grid            ``dashboard/retrieval/<epoch>.png`` + ``.csv``      ``dash/retrieval``
========================  ==================================================  ==========================

All of them run on rank 0 only, never during the sanity check, and use only
the step outputs of the evaluation contract (``features``, ``labels``) and the
DataModule's ``mean`` / ``std``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from sslkit.callbacks.images import log_image_file, log_to_wandb, save_png, unnormalize, wandb_loggers
from sslkit.data.base import BANK_LOADER, VAL_LOADER

DASHBOARD_DIR = "dashboard"
GREEN, RED = (0.1, 0.7, 0.2), (0.85, 0.1, 0.1)  # retrieval frames: same label as the query, different label


def _auto_upscale(size: int, target: int = 48) -> int:
    """Integer magnification that brings a ``size``-pixel image to about ``target`` pixels (at least 1)."""
    return max(1, target // max(size, 1))


def _stats(trainer: L.Trainer) -> tuple[Any, Any]:
    dm = trainer.datamodule
    return getattr(dm, "mean", (0.0, 0.0, 0.0)), getattr(dm, "std", (1.0, 1.0, 1.0))


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
        up = self.upscale or _auto_upscale(size)
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
        mean, std = _stats(trainer)
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


class _EveryNValidations(L.Callback):
    """Collects validation outputs; makes its panel every ``every_n_validations`` and once more at the end of fit."""

    def __init__(self, every_n_validations: int) -> None:
        if every_n_validations < 1:
            raise ValueError(f"{type(self).__name__} needs every_n_validations >= 1, got {every_n_validations}")
        self.every_n_validations = every_n_validations
        self.validations = 0  # completed validations (not the sanity check), saved in checkpoints
        self._made_at: int | None = None  # the validation the last panel was made for
        self._epoch = 0

    def reset(self) -> None:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def make(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise NotImplementedError

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.reset()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        self.validations += 1
        self._epoch = trainer.current_epoch
        if self.validations % self.every_n_validations == 0 and self.ready():
            self._make(trainer, pl_module)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.validations and self._made_at != self.validations and self.ready():
            self._make(trainer, pl_module)  # the last validation's panel, whatever every_n_validations

    def _make(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """:meth:`make`, with a warning instead of an error: a panel never stops a run."""
        self._made_at = self.validations
        try:
            self.make(trainer, pl_module)
        except Exception as err:  # noqa: BLE001
            rank_zero_warn(f"{type(self).__name__}: no panel at epoch {self._epoch} ({type(err).__name__}: {err})")

    def state_dict(self) -> dict[str, Any]:
        return {"validations": self.validations}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.validations = int(state_dict.get("validations", self.validations))


def reduce_2d(features: np.ndarray, method: Literal["umap", "tsne", "pca"], seed: int = 0) -> np.ndarray:
    """A 2-D embedding ``(N, 2)`` of ``features`` ``(N, D)`` by UMAP, t-SNE or PCA (L2-normalised first).

    torch's intra-op thread count is put back afterwards: UMAP (numba) changes it, which
    would change the training arithmetic that follows (and so exact resume).
    """
    threads = torch.get_num_threads()
    try:
        return _reduce_2d(features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12), method, seed)
    finally:
        torch.set_num_threads(threads)


def _reduce_2d(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30.0, (len(x) - 1) / 3)).fit_transform(x)
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(x)


_NAMES = {"umap": "UMAP", "tsne": "t-SNE", "pca": "PCA"}


def umap_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("umap") is not None


class EmbeddingMap(_EveryNValidations):
    """A 2-D map of the validation embeddings, coloured by label.

    Collects the ``features`` and ``labels`` of the ``val`` loader (rank 0's
    share, the first ``max_points``), and every ``every_n_validations``-th
    validation, and once more at the end of fit for the last one, reduces them
    to 2-D. The map is saved as ``dashboard/embedding_map/<epoch>.png`` (a
    scatter plot) and ``<epoch>.csv`` (``x, y, label``), and logged as the image
    ``dash/embedding_map``, the table ``dash/embedding_points`` and the
    hoverable scatter ``dash/embedding_scatter``.

    ``method="auto"`` uses UMAP (``pip install umap-learn``, the ``viz``
    extra) for maps of at least ``umap_min_points`` points and scikit-learn's
    t-SNE below that, or with one info line when umap-learn is not installed.
    UMAP compiles its kernels on first use in each process (20-30 s measured on
    a shared 2-core machine), which costs more than t-SNE on a few hundred
    points (about 1-6 s; the digits validation split has 180).

    Args:
        every_n_validations: make a map every this many validations (and at the end of fit).
        max_points: cap on the embeddings mapped (at least 10).
        method: ``auto``, ``umap``, ``tsne`` or ``pca``.
        umap_min_points: with ``auto``, the smallest map made with UMAP.
        seed: seed of the reduction.
    """

    def __init__(self, every_n_validations: int = 5, max_points: int = 2000,
                 method: Literal["auto", "umap", "tsne", "pca"] = "auto", umap_min_points: int = 1000,
                 seed: int = 0) -> None:
        super().__init__(every_n_validations)
        if max_points < 10:
            raise ValueError(f"EmbeddingMap needs max_points >= 10, got {max_points}")
        if method == "umap" and not umap_available():
            raise ValueError("EmbeddingMap(method='umap') needs umap-learn: pip install umap-learn "
                             "(or pip install 'sslkit[viz]'), or set method: tsne")
        self.max_points, self.method, self.umap_min_points, self.seed = max_points, method, umap_min_points, seed
        self._feats: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []
        self._count = 0
        self._told = False  # the t-SNE fallback's info line is shown once
        self.last_path: Path | None = None

    def resolved_method(self, n: int) -> str:
        """The reduction used for ``n`` points."""
        if self.method != "auto":
            return self.method
        if n < self.umap_min_points:
            return "tsne"
        if umap_available():
            return "umap"
        if not self._told:
            rank_zero_info("EmbeddingMap: umap-learn is not installed, using scikit-learn's t-SNE "
                           "(pip install umap-learn for UMAP)")
            self._told = True
        return "tsne"

    def reset(self) -> None:
        self._feats, self._labels, self._count = [], [], 0

    def ready(self) -> bool:
        return self._count >= 5  # t-SNE needs a few points

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if (trainer.sanity_checking or not trainer.is_global_zero or dataloader_idx != VAL_LOADER
                or not isinstance(outputs, dict) or "features" not in outputs):
            return
        room = self.max_points - self._count
        if room > 0:
            f = outputs["features"].detach()[:room].float().cpu()
            labels = outputs.get("labels")
            labels = labels[:room].cpu() if labels is not None else torch.full((f.shape[0],), -1)
            self._feats.append(f)
            self._labels.append(labels)
            self._count += f.shape[0]

    def make(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        feats, labels = torch.cat(self._feats).numpy(), torch.cat(self._labels).numpy()
        method = self.resolved_method(len(labels))
        xy = reduce_2d(feats, method, self.seed)
        folder = Path(trainer.default_root_dir) / DASHBOARD_DIR / "embedding_map"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{self._epoch}"
        with open(folder / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["x", "y", "label"])
            w.writerows((float(a), float(b), int(c)) for (a, b), c in zip(xy, labels))
        path = folder / f"{name}.png"
        plot_embedding(xy, labels, path, f"{type(pl_module).__name__}, epoch {self._epoch}: {_NAMES[method]} of "
                                         f"{len(labels)} validation embeddings")
        self.last_path = path
        log_image_file(trainer, "dash/embedding_map", path)
        if wandb_loggers(trainer):
            import wandb

            table = wandb.Table(columns=["x", "y", "label", "epoch"],
                                data=[[float(a), float(b), str(int(c)), self._epoch] for (a, b), c in zip(xy, labels)])
            log_to_wandb(trainer, {"dash/embedding_points": table,
                                   "dash/embedding_scatter": wandb.plot.scatter(table, "x", "y", title="embedding map")})


def plot_embedding(xy: np.ndarray, labels: np.ndarray, path: Path, title: str) -> Path:
    """Scatter plot of 2-D points coloured by label (``-1``: grey, unlabelled), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5))
    classes = sorted(set(int(c) for c in labels))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        keep = labels == c
        color = "0.6" if c < 0 else cmap(i % cmap.N)
        ax.scatter(xy[keep, 0], xy[keep, 1], s=8, color=color, label="unlabelled" if c < 0 else str(c), alpha=0.8)
    if len(classes) <= 20:
        ax.legend(markerscale=2, fontsize=7, loc="best", title="label", title_fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class RetrievalGrid(_EveryNValidations):
    """Nearest-neighbour retrieval: query images and their top-``k`` neighbours in embedding space.

    The queries are the first ``num_queries`` images of the ``val`` loader, the
    gallery the ``bank`` loader (clean labelled training images, the kNN
    monitor's bank, first ``max_bank``); similarity is the cosine of the
    ``features``. One row per query: the query, then its neighbours, each framed
    green when its label equals the query's and red otherwise. Saved as
    ``dashboard/retrieval/<epoch>.png`` and ``<epoch>.csv`` (query index and
    label, neighbour bank index, label and similarity) and logged as
    ``dash/retrieval``, every ``every_n_validations``-th validation and at the end of fit.

    Args:
        num_queries: query rows.
        k: neighbours per query.
        max_bank: cap on the gallery.
        every_n_validations: make a grid every this many validations (and at the end of fit).
        upscale: nearest-neighbour magnification; default: enough to show about 48 pixels.
    """

    def __init__(self, num_queries: int = 8, k: int = 8, max_bank: int = 5000, every_n_validations: int = 5,
                 upscale: int | None = None) -> None:
        super().__init__(every_n_validations)
        if num_queries < 1 or k < 1 or max_bank < 1 or (upscale is not None and upscale < 1):
            raise ValueError("RetrievalGrid needs num_queries, k, max_bank >= 1 and upscale >= 1 (or null for automatic)")
        self.num_queries, self.k, self.max_bank, self.upscale = num_queries, k, max_bank, upscale
        self.last_path: Path | None = None
        self.reset()

    def reset(self) -> None:
        self._bank: list[torch.Tensor] = []
        self._bank_labels: list[torch.Tensor] = []
        self._bank_count = 0
        self._queries: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (images, features, labels)
        self._query_count = 0

    def ready(self) -> bool:
        return self._bank_count > 0 and self._query_count > 0

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if (trainer.sanity_checking or not trainer.is_global_zero or not isinstance(outputs, dict)
                or "features" not in outputs or not isinstance(batch, (list, tuple))
                or not (isinstance(batch[0], torch.Tensor) and batch[0].ndim == 4)):  # images only (not token batches)
            return
        feats = F.normalize(outputs["features"].detach().float(), dim=1).cpu()
        labels = outputs.get("labels", torch.full((feats.shape[0],), -1)).cpu()
        if dataloader_idx == BANK_LOADER and self._bank_count < self.max_bank:
            room = self.max_bank - self._bank_count
            self._bank.append(feats[:room])
            self._bank_labels.append(labels[:room])
            self._bank_count += min(room, feats.shape[0])
        elif dataloader_idx == VAL_LOADER and self._query_count < self.num_queries:
            room = self.num_queries - self._query_count
            self._queries.append((batch[0][:room].detach().cpu(), feats[:room], labels[:room]))
            self._query_count += min(room, feats.shape[0])

    def neighbours(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(similarities, bank indices)`` of the top-``k`` neighbours of each query, ``(Q, k)`` each."""
        q = torch.cat([f for _, f, _ in self._queries])
        sims = q @ torch.cat(self._bank).T
        return sims.topk(min(self.k, sims.shape[1]), dim=1)

    def make(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from torchvision.utils import make_grid

        sims, idx = self.neighbours()
        images = torch.cat([x for x, _, _ in self._queries])
        q_labels = torch.cat([y for _, _, y in self._queries])
        bank_labels = torch.cat(self._bank_labels)
        bank = trainer.val_dataloaders[BANK_LOADER]
        order = list(iter(bank.sampler)) if bank.sampler is not None else list(range(len(bank.dataset)))
        mean, std = _stats(trainer)
        up = self.upscale or _auto_upscale(images.shape[-1])
        border = max(1, up)
        tiles, rows = [], []
        for qi in range(images.shape[0]):
            tiles.append(_frame(unnormalize(images[qi: qi + 1], mean, std, up)[0], (1.0, 1.0, 1.0), border))
            for rank, (sim, j) in enumerate(zip(sims[qi].tolist(), idx[qi].tolist())):
                ds_index = order[j]
                img = bank.dataset[ds_index][0].unsqueeze(0)
                same = int(bank_labels[j]) == int(q_labels[qi]) and int(q_labels[qi]) >= 0
                color = GREEN if same else RED
                tiles.append(_frame(unnormalize(img, mean, std, up)[0], color, border))
                rows.append([qi, int(q_labels[qi]), rank + 1, ds_index, int(bank_labels[j]), f"{sim:.4f}"])
        grid = make_grid(torch.stack(tiles), nrow=idx.shape[1] + 1, padding=2, pad_value=1.0)
        folder = Path(trainer.default_root_dir) / DASHBOARD_DIR / "retrieval"
        path = save_png(grid, folder / f"{self._epoch}.png")
        with open(folder / f"{self._epoch}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["query", "query_label", "rank", "bank_index", "label", "cosine"])
            w.writerows(rows)
        self.last_path = path
        log_image_file(trainer, "dash/retrieval", path)


def _frame(img: torch.Tensor, color: tuple[float, float, float], width: int) -> torch.Tensor:
    """``img`` ``(C, H, W)`` (grey images become RGB) with a coloured border of ``width`` pixels."""
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    h, w = img.shape[1] + 2 * width, img.shape[2] + 2 * width
    out = torch.tensor(color, dtype=img.dtype).view(3, 1, 1).expand(3, h, w).clone()
    out[:, width:-width, width:-width] = img[:3]
    return out


__all__ = ["DASHBOARD_DIR", "EmbeddingMap", "RetrievalGrid", "ViewsGrid", "plot_embedding", "reduce_2d"]
