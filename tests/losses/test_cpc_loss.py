"""InfoNCE and the CPC grid loss: hand-computed values, positives at the right patch, a literal reference."""

import math

import pytest
import torch
import torch.nn.functional as F

from sslkit.losses import CPCLoss, InfoNCELoss, grid_targets


def test_infonce_hand_computed():
    # two predictions, three candidates; t = 1: both rows score (1, 0, 1) / (0, 1, 1) with the positive at 1,
    # so each term is -log(e / (2e + 1)) = log(2e + 1) - 1
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    c = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    targets = torch.tensor([0, 1])
    assert InfoNCELoss()(p, c, targets).item() == pytest.approx(math.log(2 * math.e + 1) - 1, abs=1e-6)
    # temperature 0.5 doubles every score: log(2 e^2 + 1) - 2
    assert InfoNCELoss(0.5)(p, c, targets).item() == pytest.approx(math.log(2 * math.e**2 + 1) - 2, abs=1e-6)
    # cosine scores: the third candidate scores 1/sqrt(2) against both predictions
    s = 1 / math.sqrt(2)
    expected = -math.log(math.e / (math.e + 1 + math.exp(s)))
    assert InfoNCELoss(normalize=True)(3 * p, c, targets).item() == pytest.approx(expected, abs=1e-6)


def test_infonce_checks_its_arguments():
    with pytest.raises(ValueError, match="temperature"):
        InfoNCELoss(0.0)
    with pytest.raises(ValueError, match="targets"):
        InfoNCELoss()(torch.randn(3, 4), torch.randn(5, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        InfoNCELoss()(torch.randn(3, 4), torch.randn(5, 3), torch.tensor([0, 1, 2]))


def test_grid_targets_point_k_rows_below_in_the_same_column():
    # batch 2, a 3 x 2 grid (flat index b * 6 + i * 2 + j), one row ahead: contexts (b, 0..1, 0..1)
    assert grid_targets(2, 3, 2, 1).tolist() == [2, 3, 4, 5, 8, 9, 10, 11]
    assert grid_targets(2, 3, 2, 2).tolist() == [4, 5, 10, 11]
    with pytest.raises(ValueError, match="step"):
        grid_targets(2, 3, 2, 3)


def _one_hot_grid(b: int, rows: int, cols: int) -> torch.Tensor:
    """Patch embeddings one-hot by (image, row, column): z[b, i, j] = e_{b * rows * cols + i * cols + j}."""
    n = b * rows * cols
    return torch.eye(n).view(b, rows, cols, n)


@pytest.mark.parametrize("step", [1, 2, 3])
def test_each_context_scores_exactly_the_patch_k_rows_below(step):
    # a perfect predictor outputs the one-hot of the patch k rows below; its scores must be the one-hot of
    # the target index: 1 at the positive, 0 at every other patch of every image
    z = _one_hot_grid(2, 4, 3)
    pred = z[:, step:]  # context (b, i, j) predicts z[b, i + step, j]
    logits, targets = CPCLoss().logits_and_targets(pred, z, step)
    assert logits.shape == (2 * (4 - step) * 3, 2 * 4 * 3)
    torch.testing.assert_close(logits, F.one_hot(targets, 24).float())
    # the positive of context (b, i, j) is the patch (b, i + step, j)
    b, i, j = torch.meshgrid(torch.arange(2), torch.arange(4 - step), torch.arange(3), indexing="ij")
    assert targets.tolist() == (b * 12 + (i + step) * 3 + j).reshape(-1).tolist()


def test_cpc_loss_closed_form_with_one_hot_patches():
    # scaled perfect predictions: the positive scores s, the M - 1 other patches 0, for every step:
    # loss = log(1 + (M - 1) e^{-s}); accuracy 1
    z, s = _one_hot_grid(3, 4, 2), 5.0
    m = z.shape[-1]
    preds = {k: s * z[:, k:] for k in (1, 2)}
    loss, acc = CPCLoss().terms(preds, z)
    assert loss.item() == pytest.approx(math.log(1 + (m - 1) * math.exp(-s)), rel=1e-6)
    assert acc.item() == 1.0
    # predicting the row below for the 2-step head is wrong everywhere: accuracy drops to half
    wrong = {1: s * z[:, 1:], 2: s * z[:, 1:-1]}
    assert CPCLoss().terms(wrong, z)[1].item() == pytest.approx(0.5)


def test_cpc_loss_matches_a_literal_loop():
    torch.manual_seed(0)
    z = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    preds = {2: torch.randn(2, 2, 3, 5, dtype=torch.float64), 3: torch.randn(2, 1, 3, 5, dtype=torch.float64)}
    t = 0.7
    flat = z.reshape(-1, 5)
    per_step = []
    for k, p in preds.items():
        terms = []
        for b in range(2):
            for i in range(4 - k):
                for j in range(3):
                    scores = flat @ p[b, i, j] / t
                    pos = b * 12 + (i + k) * 3 + j
                    terms.append(-(scores[pos] - torch.logsumexp(scores, 0)))
        per_step.append(torch.stack(terms).mean())
    expected = torch.stack(per_step).mean()
    torch.testing.assert_close(CPCLoss(temperature=t)(preds, z).double(), expected, rtol=1e-5, atol=1e-6)


def test_cpc_loss_checks_shapes():
    z = torch.randn(2, 4, 3, 5)
    with pytest.raises(ValueError, match="step 1"):
        CPCLoss()({1: torch.randn(2, 4, 3, 5)}, z)  # must cover rows 0 .. rows - 2 only
    with pytest.raises(ValueError, match="at least one step"):
        CPCLoss()({}, z)
