"""Context prediction: jigsaw puzzles (permutation index) or the relative position of two patches."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from sslkit.heads.pretext import PretextClassifier
from sslkit.methods.base import SSLMethod
from sslkit.utils.tiles import DIRECTIONS, grid_tiles, hamming_permutations, neighbour_pairs


class Jigsaw(SSLMethod):
    """Jigsaw puzzles (Noroozi and Favaro, 2016, "Unsupervised Learning of Visual
    Representations by Solving Jigsaw Puzzles", arXiv:1603.09246) and relative
    patch position (Doersch, Gupta and Efros, 2015, "Unsupervised Visual
    Representation Learning by Context Prediction", arXiv:1505.05192).

    The image is cut into a ``grid x grid`` grid of cells and one tile of
    ``tile_size`` pixels is taken from each cell at a random offset (the gap
    and jitter keep edge continuation from solving the task).

    * ``task="jigsaw"``: the tiles are shuffled by one permutation of a fixed
      set of ``num_permutations`` (the maximal-Hamming greedy set of
      :func:`~sslkit.utils.tiles.hamming_permutations`, seeded by
      ``permutation_seed`` and saved in the state dict); each tile goes through
      the shared backbone, the features are concatenated in shuffled order and
      a classifier predicts the permutation's index.
    * ``task="relative_position"``: two 8-neighbouring tiles (uniform over all
      ordered neighbour pairs of the grid), embedded by the shared backbone and
      concatenated; an 8-way classifier predicts where the second lies
      relative to the first (:data:`~sslkit.utils.tiles.DIRECTIONS`).

    With ``normalize_tiles`` each tile is standardised on its own (zero mean,
    unit std) as in Noroozi and Favaro, so low-level statistics shared by
    neighbours are no shortcut. Evaluation embeds whole images. Logs
    ``train/loss`` and ``train/acc``.

    Args:
        task: ``"jigsaw"`` or ``"relative_position"``.
        grid: cells per side (2 for 16 px digits, 3 as in both papers on larger images).
        tile_size: tile side in pixels, at most the cell side ``H // grid``; ``None``: the whole cell (no gap).
        num_permutations: size of the permutation set (``task="jigsaw"``), at most ``(grid^2)!``.
        permutation_seed: seed of the permutation set's first (random) member.
        permutation_criterion: ``"min"`` (largest minimum Hamming distance) or ``"mean"`` (the paper's rule),
            see :func:`~sslkit.utils.tiles.hamming_permutations`.
        head_hidden_dim: hidden width of the classifier (0: linear).
        normalize_tiles: standardise every tile on its own.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (1, 1)

    def __init__(self, task: Literal["jigsaw", "relative_position"] = "jigsaw", grid: int = 2,
                 tile_size: int | None = None, num_permutations: int = 24, permutation_seed: int = 0,
                 permutation_criterion: Literal["min", "mean"] = "min", head_hidden_dim: int = 256,
                 normalize_tiles: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if task not in ("jigsaw", "relative_position"):
            raise ValueError(f"task must be 'jigsaw' or 'relative_position', got {task!r}")
        if grid < 2:
            raise ValueError(f"grid must be at least 2 (cells per side), got {grid}")
        self.task, self.grid, self.tile_size, self.normalize_tiles = task, grid, tile_size, normalize_tiles
        if task == "jigsaw":
            self.register_buffer("permutations", hamming_permutations(grid * grid, num_permutations, permutation_seed,
                                                                      permutation_criterion))
            tiles, classes = grid * grid, num_permutations
        else:
            self.register_buffer("pairs", neighbour_pairs(grid))
            tiles, classes = 2, len(DIRECTIONS)
        self.head = PretextClassifier(tiles * self.backbone.num_features, head_hidden_dim, classes)

    def make_puzzles(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The task's inputs ``(B, T, C, t, t)`` (tiles in the order the network sees them) and labels ``(B,)``.

        Jigsaw: position ``k`` holds tile ``permutations[label][k]``; relative
        position: ``(first, second)`` tiles, label indexing ``DIRECTIONS``.
        """
        tiles = grid_tiles(x, self.grid, self.tile_size)
        b, rows = x.shape[0], torch.arange(x.shape[0], device=x.device)
        if self.task == "jigsaw":
            labels = torch.randint(len(self.permutations), (b,), device=x.device)
            order = self.permutations[labels]  # (B, N)
            return tiles[rows[:, None], order], labels
        first, second, labels = self.pairs[torch.randint(len(self.pairs), (b,), device=x.device)].unbind(dim=1)
        return torch.stack([tiles[rows, first], tiles[rows, second]], dim=1), labels

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        puzzles, labels = self.make_puzzles(views[0])
        b, t = puzzles.shape[:2]
        tiles = puzzles.flatten(0, 1)
        if self.normalize_tiles:
            mean, std = tiles.mean(dim=(1, 2, 3), keepdim=True), tiles.std(dim=(1, 2, 3), keepdim=True)
            tiles = (tiles - mean) / (std + 1e-5)
        logits = self.head(self.backbone(tiles).view(b, -1))
        acc = (logits.detach().argmax(dim=1) == labels).float().mean()
        return {"loss": F.cross_entropy(logits, labels), "acc": acc}
