"""Heads of the joint-embedding methods: SimSiam, Barlow Twins, VICReg, SwAV."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.heads.projection import ProjectionHead


def _mlp_blocks(in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, out_norm: nn.Module | None = None) -> list:
    """``num_layers`` linear layers, Linear-BN-ReLU between them, ``out_norm`` (or nothing) after the last."""
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
    blocks = [(dims[i], dims[i + 1], nn.BatchNorm1d(dims[i + 1]), nn.ReLU()) for i in range(num_layers - 1)]
    return blocks + [(dims[-2], dims[-1], out_norm, None)]


class SimSiamProjectionHead(ProjectionHead):
    """SimSiam's projector (Chen & He, 2021, arXiv:2011.10566): ``num_layers``
    linear layers with BN and ReLU between them and a non-affine BN on the output.

    Args:
        in_dim: backbone feature size.
        hidden_dim: hidden width (2048 in the paper).
        out_dim: output size (2048 in the paper).
        num_layers: linear layers (3 on ImageNet, 2 on CIFAR in the paper).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 2048, num_layers: int = 3) -> None:
        super().__init__(_mlp_blocks(in_dim, hidden_dim, out_dim, num_layers, nn.BatchNorm1d(out_dim, affine=False)))


class SimSiamPredictionHead(ProjectionHead):
    """SimSiam's bottleneck predictor (Chen & He, 2021, arXiv:2011.10566):
    Linear-BN-ReLU to ``hidden_dim`` then Linear back to ``out_dim``.

    Args:
        in_dim: projection size (2048 in the paper).
        hidden_dim: bottleneck width (512 in the paper).
        out_dim: prediction size, equal to the projection size.
    """

    def __init__(self, in_dim: int = 2048, hidden_dim: int = 512, out_dim: int = 2048) -> None:
        super().__init__(_mlp_blocks(in_dim, hidden_dim, out_dim, 2))


class BarlowTwinsProjectionHead(ProjectionHead):
    """Barlow Twins' projector (Zbontar et al., 2021, arXiv:2103.03230):
    ``num_layers`` linear layers (3 x 8192 in the paper) with BN and ReLU between them.

    Args:
        in_dim: backbone feature size.
        hidden_dim: hidden width.
        out_dim: embedding size.
        num_layers: linear layers, >= 1.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 8192, out_dim: int = 8192, num_layers: int = 3) -> None:
        super().__init__(_mlp_blocks(in_dim, hidden_dim, out_dim, num_layers))


class VICRegProjectionHead(BarlowTwinsProjectionHead):
    """VICReg's expander (Bardes et al., 2022, arXiv:2105.04906): the same
    shape as Barlow Twins' projector (3 x 8192 with BN and ReLU in the paper).
    """


class SwAVProjectionHead(ProjectionHead):
    """SwAV's projector (Caron et al., 2020, arXiv:2006.09882): Linear-BN-ReLU then Linear.

    Args:
        in_dim: backbone feature size.
        hidden_dim: hidden width (2048 in the paper).
        out_dim: embedding size before the prototypes (128 in the paper).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 128) -> None:
        super().__init__(_mlp_blocks(in_dim, hidden_dim, out_dim, 2))


class SwAVPrototypes(nn.Module):
    """SwAV's prototypes (Caron et al., 2020, arXiv:2006.09882): a bias-free
    linear layer whose rows are unit vectors, so its outputs on L2-normalised
    embeddings are cosine similarities.

    Call :meth:`normalize` before each training step (SwAV renormalises the
    weights every iteration) and :meth:`freeze_grad` after backward while the
    prototypes are frozen (the paper freezes them during the first epoch).

    Args:
        in_dim: embedding size.
        num_prototypes: number of prototypes ``K`` (3000 on ImageNet).
    """

    def __init__(self, in_dim: int = 128, num_prototypes: int = 3000) -> None:
        super().__init__()
        if in_dim < 1 or num_prototypes < 2:
            raise ValueError(f"need in_dim >= 1 and num_prototypes >= 2, got {in_dim}, {num_prototypes}")
        self.layer = nn.Linear(in_dim, num_prototypes, bias=False)
        self.normalize()

    @torch.no_grad()
    def normalize(self) -> None:
        """L2-normalise each prototype in place."""
        self.layer.weight.copy_(F.normalize(self.layer.weight, dim=1))

    def freeze_grad(self) -> None:
        """Drop the prototypes' gradient so the optimizer leaves them unchanged this step."""
        self.layer.weight.grad = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Scores ``(N, K)`` of embeddings ``z`` ``(N, in_dim)`` against every prototype."""
        return self.layer(z)
