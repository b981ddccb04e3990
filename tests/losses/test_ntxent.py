import math

import pytest
import torch
import torch.nn.functional as F

from sslkit.losses import NTXentLoss


def reference_ntxent(z_a: torch.Tensor, z_b: torch.Tensor, t: float) -> torch.Tensor:
    """Literal double loop over the 2N samples of the SimCLR paper's loss."""
    z = F.normalize(torch.cat([z_a, z_b]), dim=1)
    n = z_a.shape[0]
    total = 0.0
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        num = torch.exp(z[i] @ z[pos] / t)
        den = sum(torch.exp(z[i] @ z[k] / t) for k in range(2 * n) if k != i)
        total = total - torch.log(num / den)
    return total / (2 * n)


def test_hand_computed_value():
    # two orthonormal pairs, t = 1: each sample has its positive at cosine 1 and two negatives at 0,
    # so every term is -log(e / (e + 2)) = log(1 + 2/e) = 0.55144...
    eye = torch.eye(2)
    loss = NTXentLoss(temperature=1.0)(eye, eye.clone())
    assert loss.item() == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6)
    assert loss.item() == pytest.approx(0.551444, abs=1e-5)


@pytest.mark.parametrize("n,t", [(3, 0.5), (4, 0.1), (5, 1.0)])
def test_closed_form_orthonormal(n, t):
    # N orthonormal embeddings, both views identical: 2N - 2 negatives at cosine 0
    z = torch.eye(8, dtype=torch.float64)[:n] * 3.0  # scale must not matter: embeddings are L2-normalised
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / t))
    assert NTXentLoss(temperature=t)(z, z.clone()).item() == pytest.approx(expected, rel=1e-5)


def test_single_pair_has_zero_loss():
    # with one pair the only candidate is the positive: softmax over one logit
    assert NTXentLoss()(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])).item() == pytest.approx(0.0, abs=1e-7)


def test_matches_reference_and_gradients():
    torch.manual_seed(0)
    a = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    loss = NTXentLoss(temperature=0.3)(a, b)
    ref = reference_ntxent(a, b, 0.3)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-10)
    ga, gb = torch.autograd.grad(loss, (a, b))
    ra, rb = torch.autograd.grad(ref, (a, b))
    torch.testing.assert_close(ga, ra)
    torch.testing.assert_close(gb, rb)


def test_aligned_views_beat_random_views():
    torch.manual_seed(0)
    z = torch.randn(32, 16)
    loss = NTXentLoss(temperature=0.1)
    assert loss(z, z + 0.01 * torch.randn_like(z)) < loss(z, torch.randn_like(z)) - 1.0


def test_invalid_arguments():
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature=0.0)
    with pytest.raises(ValueError, match="shape"):
        NTXentLoss()(torch.randn(4, 3), torch.randn(5, 3))
