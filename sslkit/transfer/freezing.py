"""Partial freezing and layer-wise learning-rate groups over a backbone's stages.

Stages are found by :func:`sslkit.backbones.stages.backbone_stages`. Parameters
outside every stage that are registered before the first stage form the *stem*
(depth 0); the others (e.g. a final norm or pooler) sit on top (depth ``n + 1``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from sslkit.backbones.stages import backbone_stages


def parameter_depths(backbone: nn.Module) -> tuple[OrderedDict[str, int], int]:
    """Depth of every parameter: 0 for the stem, ``i + 1`` in stage ``i``, ``n + 1`` on top.

    Returns:
        ``(depths by parameter name, n)`` with ``n`` the number of stages.
    """
    stages = backbone_stages(backbone)
    n = len(stages)
    depths: OrderedDict[str, int] = OrderedDict()
    seen_stage = False
    for name, _ in backbone.named_parameters():
        for i, (prefix, _) in enumerate(stages):
            if name.startswith(prefix + "."):
                depths[name] = i + 1
                seen_stage = True
                break
        else:
            depths[name] = n + 1 if seen_stage else 0
    return depths, n


def freeze(module: nn.Module) -> None:
    """Set ``requires_grad=False`` on every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad_(False)


def freeze_first_stages(backbone: nn.Module, k: int) -> list[str]:
    """Freeze the stem and the first ``k`` stages (``k = 0``: nothing is frozen).

    Returns:
        Names of the frozen parameters.
    """
    depths, n = parameter_depths(backbone)
    if not 0 <= k <= n:
        raise ValueError(f"freeze_stages must be in [0, {n}] for this backbone ({n} stages), got {k}")
    frozen = []
    if k == 0:
        return frozen
    for name, p in backbone.named_parameters():
        if depths[name] <= k:
            p.requires_grad_(False)
            frozen.append(name)
    return frozen


def frozen_norm_layers(module: nn.Module) -> list[nn.Module]:
    """BatchNorm layers whose affine parameters are all frozen (they must stay in eval mode)."""
    out = []
    for m in module.modules():
        params = list(m.parameters(recurse=False))
        if isinstance(m, _BatchNorm) and params and not any(p.requires_grad for p in params):
            out.append(m)
    return out


def layer_decay_groups(backbone: nn.Module, head: nn.Module, layer_decay: float = 1.0, backbone_lr_scale: float = 1.0,
                       weight_decay: float | None = None) -> list[dict]:
    """Parameter groups with per-layer learning-rate scales (discriminative fine-tuning).

    Layer-wise decay as in BEiT / ELECTRA (Clark et al., 2020, arXiv:2003.10555;
    Bao et al., 2021, arXiv:2106.08254): with ``n`` stages, the head and the
    top (depth ``n + 1``) get scale 1, stage ``i`` (depth ``i + 1``)
    ``layer_decay ** (n + 1 - depth)``, the stem ``layer_decay ** (n + 1)``; every
    backbone scale is further multiplied by ``backbone_lr_scale`` (ULMFiT-style
    discriminative rates, Howard & Ruder, 2018, arXiv:1801.06146). Each group
    carries ``lr_scale``; the caller multiplies the optimizer's base rate by it.
    Biases and norm weights (``ndim <= 1``) get ``weight_decay=0``.

    Returns:
        Parameter groups (only trainable parameters), each with ``lr_scale`` and ``name``.
    """
    if not 0 < layer_decay <= 1 or backbone_lr_scale < 0:
        raise ValueError(f"layer_decay must be in (0, 1] and backbone_lr_scale >= 0, got {layer_decay}, {backbone_lr_scale}")
    if layer_decay < 1:
        depths, n = parameter_depths(backbone)
    else:
        depths, n = {name: 0 for name, _ in backbone.named_parameters()}, -1  # one scale for the backbone
    groups: dict[tuple, dict] = {}

    def add(p: torch.Tensor, key: str, scale: float) -> None:
        if not p.requires_grad:
            return
        no_wd = p.ndim <= 1
        g = groups.setdefault((key, no_wd), {"params": [], "lr_scale": scale, "name": key + ("/no_wd" if no_wd else "")})
        if no_wd:
            g["weight_decay"] = 0.0
        elif weight_decay is not None:
            g["weight_decay"] = weight_decay
        g["params"].append(p)

    for name, p in backbone.named_parameters():
        d = depths[name]
        add(p, f"backbone/depth{d}", backbone_lr_scale * layer_decay ** (n + 1 - d))
    for p in head.parameters():
        add(p, "head", 1.0)
    return [g for g in groups.values() if g["params"]]
