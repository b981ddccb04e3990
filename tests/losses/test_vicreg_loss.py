import pytest
import torch

from sslkit.losses import VICRegLoss


def test_constant_inputs_variance_is_gamma_hinge():
    loss = VICRegLoss(eps=1e-4, gamma=1.0)
    z = torch.ones(8, 5)
    t = loss.terms(z, z)
    assert t["variance"].item() == pytest.approx(1.0 - 1e-4**0.5, abs=1e-6)
    assert t["invariance"].item() == 0.0
    assert t["covariance"].item() == 0.0
    assert loss(z, z).item() == pytest.approx(25 * (1.0 - 1e-2), abs=1e-4)


def test_hand_computed_terms():
    z_a = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 2.0], [-1.0, -2.0]])
    z_b = z_a + torch.tensor([[1.0, 1.0]])
    loss = VICRegLoss(sim_coeff=2.0, std_coeff=3.0, cov_coeff=5.0, gamma=2.0, eps=1e-12)
    t = loss.terms(z_a, z_b)
    # unbiased variances: dim0 4/3, dim1 8/3; std sqrt(4/3), sqrt(8/3); covariance (1*0 - 1*0 + 2 + 2)/3 = 4/3
    hinge = ((2 - (4 / 3) ** 0.5) + max(0.0, 2 - (8 / 3) ** 0.5)) / 2
    cov = 2 * (2 * (4 / 3) ** 2) / 2  # two branches, two off-diagonal entries each, divided by d = 2
    assert t["invariance"].item() == pytest.approx(1.0)
    assert t["variance"].item() == pytest.approx(hinge, rel=1e-5)
    assert t["covariance"].item() == pytest.approx(cov, rel=1e-5)
    assert loss(z_a, z_b).item() == pytest.approx(2 * 1.0 + 3 * hinge + 5 * cov, rel=1e-5)


def test_well_spread_decorrelated_embeddings_have_no_variance_penalty():
    torch.manual_seed(0)
    z = torch.randn(4096, 4) * 3
    t = VICRegLoss().terms(z, z)
    assert t["variance"].item() == 0.0
    assert t["covariance"].item() < 0.1 * 9


def test_validates():
    with pytest.raises(ValueError):
        VICRegLoss(sim_coeff=-1)
    with pytest.raises(ValueError):
        VICRegLoss(eps=0)
    with pytest.raises(ValueError):
        VICRegLoss()(torch.randn(1, 3), torch.randn(1, 3))
