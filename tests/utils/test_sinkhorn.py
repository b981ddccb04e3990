import pytest
import torch

from sslkit.utils import sinkhorn_knopp


def test_rows_sum_to_one_and_prototypes_to_b_over_k():
    torch.manual_seed(0)
    scores = torch.nn.functional.normalize(torch.randn(12, 4), dim=1)
    q = sinkhorn_knopp(scores, epsilon=0.05, iterations=3)
    torch.testing.assert_close(q.sum(1), torch.ones(12))
    assert (q >= 0).all()
    q = sinkhorn_knopp(scores, epsilon=0.5, iterations=200)
    torch.testing.assert_close(q.sum(0), torch.full((4,), 12 / 4), atol=1e-4, rtol=0)


def test_equipartition_overrides_a_shared_favourite():
    # every sample prefers prototype 0; the codes still spread the batch over both prototypes
    scores = torch.tensor([[1.0, 0.0], [0.9, 0.0], [0.8, 0.0], [0.7, 0.0]])
    q = sinkhorn_knopp(scores, epsilon=0.05, iterations=50)
    assert q.sum(0).tolist() == pytest.approx([2.0, 2.0], abs=1e-3)
    assert q[0, 0] > q[3, 0]  # the strongest preference keeps prototype 0


def test_one_iteration_by_hand():
    scores = torch.log(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))  # exp(scores / 1) = [[1, 2], [3, 4]]
    # rows of Q^T (prototypes) scaled to 1/K: [[1,3]/4/2, [2,4]/6/2]; then samples to 1:
    p = torch.tensor([[1 / 8, 2 / 12], [3 / 8, 4 / 12]])
    expected = p / p.sum(1, keepdim=True)
    torch.testing.assert_close(sinkhorn_knopp(scores, epsilon=1.0, iterations=1), expected)


def test_is_stable_for_large_scores():
    q = sinkhorn_knopp(torch.tensor([[100.0, -100.0], [-100.0, 100.0]]), epsilon=0.01)
    assert torch.isfinite(q).all()
    torch.testing.assert_close(q, torch.eye(2), atol=1e-4, rtol=0)


def test_validates():
    with pytest.raises(ValueError):
        sinkhorn_knopp(torch.randn(3, 2), epsilon=0)
    with pytest.raises(ValueError):
        sinkhorn_knopp(torch.randn(3, 2), iterations=0)


def test_a_prototype_nobody_likes_still_gets_its_share():
    # exp(-100 / 0.05) underflows to 0 for the whole second prototype; the log-domain version still splits the batch
    q = sinkhorn_knopp(torch.tensor([[0.0, -100.0], [0.0, -100.0]]), epsilon=0.05, iterations=3)
    assert torch.isfinite(q).all()
    torch.testing.assert_close(q.sum(0), torch.ones(2), atol=1e-5, rtol=0)
