"""The embedding-map panel: a 2-D map (UMAP, t-SNE or PCA) of the validation embeddings, coloured by label."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info

from sslkit.callbacks.dashboard.panel import DASHBOARD_DIR, EveryNValidations
from sslkit.callbacks.images import log_image_file, log_to_wandb, wandb_loggers
from sslkit.data.base import VAL_LOADER
from sslkit.utils.plotting import pyplot, save_figure


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


class EmbeddingMap(EveryNValidations):
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
    plt = pyplot()
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
    save_figure(fig, path, dpi=100)
    return path
