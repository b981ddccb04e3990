"""Image tiles for the context pretext tasks: grid tiles, their reassembly, permutation sets, neighbour pairs."""

from __future__ import annotations

import itertools
from typing import Literal

import torch


def grid_tiles(x: torch.Tensor, grid: int, tile_size: int | None = None, jitter: bool = True) -> torch.Tensor:
    """Cut ``(B, C, H, W)`` images into ``grid x grid`` cells and take one square tile from each.

    Cells are ``H // grid`` pixels (the remainder at the bottom/right is
    dropped). With ``tile_size`` smaller than a cell, each tile sits at a random
    offset in its cell (independently per image and cell) when ``jitter``, else
    in the cell's centre: the gap between tiles keeps the network from solving
    the task by continuing edges across tile borders (Noroozi & Favaro 2016).

    Returns:
        ``(B, grid * grid, C, t, t)``, cells in row-major order.
    """
    b, c, h, w = x.shape
    cell = min(h, w) // grid
    t = cell if tile_size is None else tile_size
    if cell < 1 or not 1 <= t <= cell:
        raise ValueError(f"tile_size={tile_size} must be in [1, {cell}] (cells of {h}x{w} images on a {grid}x{grid} grid)")
    n = grid * grid
    if jitter and t < cell:
        oy, ox = torch.randint(0, cell - t + 1, (2, b, n), device=x.device)
    else:
        oy = ox = torch.full((b, n), (cell - t) // 2, device=x.device)
    rows = torch.arange(n, device=x.device) // grid * cell + oy  # (B, N) top edge of each tile
    cols = torch.arange(n, device=x.device) % grid * cell + ox
    r = torch.arange(t, device=x.device)
    ys = (rows[..., None] + r).view(b, n, 1, t, 1).expand(b, n, c, t, t)
    xs = (cols[..., None] + r).view(b, n, 1, 1, t).expand(b, n, c, t, t)
    flat = x.unsqueeze(1).expand(b, n, c, h, w).reshape(b, n, c, h * w)
    return torch.gather(flat, 3, (ys * w + xs).reshape(b, n, c, t * t)).view(b, n, c, t, t)


def assemble_tiles(tiles: torch.Tensor, grid: int) -> torch.Tensor:
    """Inverse of :func:`grid_tiles` with full cells: ``(B, grid * grid, C, t, t)`` -> ``(B, C, grid * t, grid * t)``."""
    b, n, c, t, _ = tiles.shape
    if n != grid * grid:
        raise ValueError(f"{n} tiles do not fill a {grid}x{grid} grid")
    return tiles.view(b, grid, grid, c, t, t).permute(0, 3, 1, 4, 2, 5).reshape(b, c, grid * t, grid * t)


def hamming_permutations(num_tiles: int, num_permutations: int, seed: int = 0,
                         criterion: Literal["min", "mean"] = "min") -> torch.Tensor:
    """A maximal-Hamming-distance set of permutations of ``num_tiles`` tiles, chosen greedily.

    The greedy selection of Noroozi & Favaro (2016, arXiv:1603.09246, Algorithm 1):
    the first permutation is drawn at random (``seed``); then, repeatedly, the
    unused permutation farthest from those chosen so far joins the set.
    "Farthest" is, with ``criterion="mean"``, the largest mean Hamming distance
    to the chosen set (the paper's and its reference code's rule), and with
    ``"min"`` (default) the largest minimum distance, ties broken by the mean:
    the mean rule alone admits pairs at distance 2 (100 of the 9! permutations:
    minimum pairwise distance 2, below a random set's 3), the min rule keeps
    every pair far apart (6 for 100 of 9!). Remaining ties go to the first
    permutation in lexicographic order.

    Returns:
        ``(num_permutations, num_tiles)`` long tensor; row ``k`` lists, for each
        position, the index of the tile placed there.
    """
    if not 2 <= num_tiles <= 9:
        raise ValueError(f"num_tiles must be in [2, 9] (all {num_tiles}! permutations are enumerated), got {num_tiles}")
    if criterion not in ("min", "mean"):
        raise ValueError(f"criterion must be 'min' or 'mean', got {criterion!r}")
    every = torch.tensor(list(itertools.permutations(range(num_tiles))), dtype=torch.uint8)
    if not 1 <= num_permutations <= len(every):
        raise ValueError(f"num_permutations must be in [1, {len(every)}] for {num_tiles} tiles, got {num_permutations}")
    columns = every.t().contiguous()  # (num_tiles, N)
    total = torch.zeros(len(every), dtype=torch.int64)  # summed Hamming distance to the chosen set
    nearest = torch.full((len(every),), num_tiles, dtype=torch.int64)  # distance to the nearest chosen one
    free = torch.ones(len(every), dtype=torch.bool)
    j = int(torch.randint(len(every), (1,), generator=torch.Generator().manual_seed(seed)))
    chosen = []
    for _ in range(num_permutations):
        chosen.append(j)
        free[j] = False
        d = (columns != columns[:, j : j + 1]).sum(dim=0)
        total += d
        torch.minimum(nearest, d, out=nearest)
        score = total if criterion == "mean" else nearest * (num_tiles * num_permutations + 1) + total
        j = int(torch.where(free, score, -1).argmax())  # argmax returns the first maximum
    return every[chosen].long()


#: ``(dy, dx)`` of the 8 relative positions, in label order (Doersch et al. 2015, Fig. 2: row by row).
DIRECTIONS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def neighbour_pairs(grid: int) -> torch.Tensor:
    """Every ordered pair of 8-neighbouring cells of a ``grid x grid`` grid: ``(P, 3)`` rows ``(first, second, label)``,
    ``label`` indexing :data:`DIRECTIONS` (where the second cell lies relative to the first)."""
    pairs = []
    for i in range(grid * grid):
        for label, (dy, dx) in enumerate(DIRECTIONS):
            y, x = i // grid + dy, i % grid + dx
            if 0 <= y < grid and 0 <= x < grid:
                pairs.append((i, y * grid + x, label))
    if not pairs:
        raise ValueError(f"a {grid}x{grid} grid has no neighbouring cells; use grid >= 2")
    return torch.tensor(pairs, dtype=torch.long)
