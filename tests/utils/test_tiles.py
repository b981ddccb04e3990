"""Grid tiles, their reassembly, maximal-Hamming permutation sets and neighbour pairs."""

import itertools

import pytest
import torch

from sslkit.utils.tiles import DIRECTIONS, assemble_tiles, grid_tiles, hamming_permutations, neighbour_pairs


def _min_distance(p: torch.Tensor) -> int:
    d = (p[:, None] != p[None]).sum(-1)
    d.fill_diagonal_(p.shape[1] + 1)
    return int(d.min())


@pytest.mark.parametrize("grid", [2, 3])
def test_full_cells_reassemble_to_the_image(grid):
    x = torch.randn(2, 3, 4 * grid, 4 * grid)
    tiles = grid_tiles(x, grid)
    assert tiles.shape == (2, grid * grid, 3, 4, 4)
    assert torch.equal(assemble_tiles(tiles, grid), x)
    torch.testing.assert_close(tiles[1, grid + 1], x[1, :, 4:8, 4:8])  # row-major cells


def test_jittered_tiles_lie_inside_their_cells():
    torch.manual_seed(0)
    x = torch.randn(5, 1, 16, 16)
    tiles = grid_tiles(x, 2, tile_size=5)
    for b, n in itertools.product(range(5), range(4)):
        r, c = n // 2 * 8, n % 2 * 8
        crops = [x[b, :, r + i : r + i + 5, c + j : c + j + 5] for i in range(4) for j in range(4)]
        assert any(torch.equal(tiles[b, n], crop) for crop in crops)
    fixed = grid_tiles(x, 2, tile_size=6, jitter=False)
    assert torch.equal(fixed[:, 3], x[:, :, 9:15, 9:15])  # centred in its cell
    with pytest.raises(ValueError, match="tile_size"):
        grid_tiles(x, 2, tile_size=9)


def _brute_force_greedy(n, k, first, criterion):
    every = list(itertools.permutations(range(n)))
    chosen = [every[first]]
    while len(chosen) < k:
        def score(p):
            d = [sum(a != b for a, b in zip(p, q)) for q in chosen]
            return (sum(d),) if criterion == "mean" else (min(d), sum(d))
        rest = [p for p in every if p not in chosen]
        chosen.append(max(rest, key=score))  # max() keeps the first maximum, like argmax
    return torch.tensor(chosen)


@pytest.mark.parametrize("criterion", ["min", "mean"])
def test_permutation_set_is_the_greedy_maximal_hamming_set(criterion):
    p = hamming_permutations(5, 12, seed=3, criterion=criterion)
    assert p.shape == (12, 5) and len({tuple(r) for r in p.tolist()}) == 12
    assert all(sorted(r) == list(range(5)) for r in p.tolist())
    first = list(itertools.permutations(range(5))).index(tuple(p[0].tolist()))
    assert torch.equal(p, _brute_force_greedy(5, 12, first, criterion))


def test_min_criterion_keeps_pairs_far_apart():
    assert _min_distance(hamming_permutations(5, 20, criterion="min")) == 4
    assert _min_distance(hamming_permutations(5, 20, criterion="mean")) == 2  # the paper's rule alone
    assert _min_distance(hamming_permutations(4, 4)) == 4  # a Latin square: the best possible
    assert _min_distance(hamming_permutations(6, 30)) >= 4


def test_permutations_are_deterministic_by_seed():
    assert torch.equal(hamming_permutations(4, 10, seed=1), hamming_permutations(4, 10, seed=1))
    assert not torch.equal(hamming_permutations(6, 10, seed=1), hamming_permutations(6, 10, seed=2))
    with pytest.raises(ValueError, match="num_permutations"):
        hamming_permutations(3, 7)


@pytest.mark.parametrize("grid,count", [(2, 12), (3, 40)])
def test_neighbour_pairs_match_their_direction(grid, count):
    pairs = neighbour_pairs(grid)
    assert len(pairs) == count and len(set(map(tuple, pairs.tolist()))) == count
    for first, second, label in pairs.tolist():
        dy, dx = DIRECTIONS[label]
        assert (second // grid - first // grid, second % grid - first % grid) == (dy, dx)
    assert set(pairs[:, 2].tolist()) == set(range(8))
