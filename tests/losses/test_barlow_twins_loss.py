import pytest
import torch

from sslkit.losses import BarlowTwinsLoss

# four samples whose two standardised dimensions are uncorrelated: C = I for z_a = z_b
DECORRELATED = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])


def test_identity_cross_correlation_gives_zero():
    loss = BarlowTwinsLoss(lambda_offdiag=0.5)
    c = loss.cross_correlation(DECORRELATED, DECORRELATED * 4 + 2)  # invariant to scale and shift
    torch.testing.assert_close(c, torch.eye(2), atol=1e-4, rtol=0)
    assert loss(DECORRELATED, DECORRELATED).item() == pytest.approx(0.0, abs=1e-4)


def test_hand_computed_value():
    z_b = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])  # swaps the roles of dims
    # standardised z_a = DECORRELATED, z_b as given: C = [[0, 1], [1, 0]]
    # on-diagonal: (1-0)^2 * 2 = 2; off-diagonal: 1 + 1 = 2
    loss = BarlowTwinsLoss(lambda_offdiag=0.25, eps=1e-12)
    assert loss(DECORRELATED, z_b).item() == pytest.approx(2 + 0.25 * 2, abs=1e-5)
    scaled = BarlowTwinsLoss(lambda_offdiag=0.25, eps=1e-12, scale_loss=0.1)
    assert scaled(DECORRELATED, z_b).item() == pytest.approx(0.1 * (2 + 0.25 * 2), abs=1e-5)


def test_matches_batchnorm_reference():
    torch.manual_seed(0)
    z_a, z_b = torch.randn(32, 6), torch.randn(32, 6)
    bn = torch.nn.BatchNorm1d(6, affine=False)
    c = bn(z_a).T @ bn(z_b) / 32
    ref = (torch.diagonal(c) - 1).pow(2).sum() + 5e-3 * (c.pow(2).sum() - torch.diagonal(c).pow(2).sum())
    assert BarlowTwinsLoss(lambda_offdiag=5e-3)(z_a, z_b).item() == pytest.approx(ref.item(), rel=1e-5)


def test_validates():
    with pytest.raises(ValueError):
        BarlowTwinsLoss(lambda_offdiag=-1)
    with pytest.raises(ValueError):
        BarlowTwinsLoss(eps=0)
    with pytest.raises(ValueError):
        BarlowTwinsLoss()(torch.randn(4, 3), torch.randn(4, 2))
