"""DINO's head: MLP, L2-normalised bottleneck and a weight-normalised prototype layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from sslkit.heads.projection import ProjectionHead


class DINOHead(nn.Module):
    """The DINO projection head (Caron et al., 2021, arXiv:2104.14294, section 3.1).

    ``num_layers`` linear layers (GELU between them, optional BatchNorm) map
    the features to a ``bottleneck_dim`` embedding, which is L2-normalised and
    fed to a weight-normalised linear layer with ``out_dim`` outputs
    (prototypes). With ``norm_last_layer`` the norm of each prototype is fixed
    to 1 (not trained), which the paper finds stabilises training.

    Args:
        in_dim: backbone feature size.
        hidden_dim: hidden width (2048 in the paper).
        bottleneck_dim: size of the normalised embedding (256 in the paper).
        out_dim: number of prototypes (65536 in the paper).
        num_layers: linear layers of the MLP, >= 1 (3 in the paper).
        use_bn: BatchNorm after the hidden layers (off for ViTs, on in some ResNet recipes).
        norm_last_layer: freeze the norm of the prototype weights at 1.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 2048, bottleneck_dim: int = 256, out_dim: int = 65536,
                 num_layers: int = 3, use_bn: bool = False, norm_last_layer: bool = True) -> None:
        super().__init__()
        if num_layers < 1 or out_dim < 1 or bottleneck_dim < 1:
            raise ValueError("DINOHead needs num_layers, out_dim and bottleneck_dim >= 1")
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [bottleneck_dim]
        blocks = [(dims[i], dims[i + 1], nn.BatchNorm1d(dims[i + 1]) if use_bn else None, nn.GELU())
                  for i in range(num_layers - 1)]
        self.mlp = ProjectionHead(blocks + [(dims[-2], dims[-1], None, None)])
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        magnitude = self.last_layer.parametrizations.weight.original0
        magnitude.data.fill_(1.0)
        magnitude.requires_grad_(not norm_last_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Prototype scores ``(N, out_dim)`` of features ``(N, in_dim)``."""
        return self.last_layer(F.normalize(self.mlp(x), dim=-1))
