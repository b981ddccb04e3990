import pytest
import torch
from torch import nn

from sslkit.heads import (
    BarlowTwinsProjectionHead,
    SimSiamPredictionHead,
    SimSiamProjectionHead,
    SwAVProjectionHead,
    SwAVPrototypes,
    VICRegProjectionHead,
)


def _linears(m: nn.Module) -> list[tuple[int, int]]:
    return [(x.in_features, x.out_features) for x in m.modules() if isinstance(x, nn.Linear)]


def test_simsiam_projector_ends_in_non_affine_bn_and_predictor_is_a_bottleneck():
    proj = SimSiamProjectionHead(12, 32, 24, num_layers=3)
    assert _linears(proj) == [(12, 32), (32, 32), (32, 24)]
    assert isinstance(proj[-1], nn.BatchNorm1d) and not proj[-1].affine
    z = proj(torch.randn(16, 12))
    torch.testing.assert_close(z.mean(0), torch.zeros(24), atol=1e-5, rtol=0)  # BN on the output (train mode)
    pred = SimSiamPredictionHead(24, 6, 24)
    assert _linears(pred) == [(24, 6), (6, 24)] and pred(z).shape == (16, 24)


@pytest.mark.parametrize("cls", [BarlowTwinsProjectionHead, VICRegProjectionHead])
def test_wide_projectors(cls):
    head = cls(10, 64, 48, num_layers=3)
    assert _linears(head) == [(10, 64), (64, 64), (64, 48)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in head.modules()) == 2
    with pytest.raises(ValueError):
        cls(10, 64, 48, num_layers=0)


def test_swav_projector_and_unit_prototypes():
    assert _linears(SwAVProjectionHead(10, 20, 8)) == [(10, 20), (20, 8)]
    protos = SwAVPrototypes(8, 5)
    torch.testing.assert_close(protos.layer.weight.norm(dim=1), torch.ones(5))
    z = torch.nn.functional.normalize(torch.randn(3, 8), dim=1)
    assert protos(z).abs().max() <= 1 + 1e-6  # cosine similarities
    with pytest.raises(ValueError):
        SwAVPrototypes(8, 1)
