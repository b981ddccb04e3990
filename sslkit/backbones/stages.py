"""Stages of a backbone: find them, and read pooled features at any one of them.

A backbone's *stages* are its repeated blocks in input-to-output order:
``stages`` (:class:`~sslkit.backbones.TinyCNN`, timm ConvNeXt), ``blocks``
(timm ViT), ``layer1..layer4`` (ResNets, also inside torchvision wrappers),
``encoder.layer`` (Hugging Face BERT-style encoders), ``h`` (GPT-2) or ``layers``.
Pretext features are often best mid-network (RotNet's best is block 2,
VISSL and MMSelfSup probe several stages), so evaluation can read any stage
(:func:`stage_features`), chosen in a recipe with ``model.init_args.embed_stage``.
"""

from __future__ import annotations

import torch
from torch import nn

_PATHS = ("stages", "blocks", "encoder.layer", "model.encoder.layer", "layers", "model.layers", "model.h")


def _get(module: nn.Module, path: str) -> nn.Module | None:
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def backbone_stages(backbone: nn.Module) -> list[tuple[str, nn.Module]]:
    """``[(qualified name, module), ...]`` of the backbone's stages, input side first.

    Raises:
        ValueError: when no stage layout is recognised (partial freezing, layer
            decay and stage features need one).
    """
    for prefix in ("", "model.", "backbone.", "encoder.", "model.model."):
        for path in _PATHS:
            found = _get(backbone, prefix + path)
            if isinstance(found, (nn.ModuleList, nn.Sequential)) and len(found) > 0:
                return [(f"{prefix}{path}.{i}", m) for i, m in enumerate(found)]
        layers = [(f"{prefix}layer{i}", _get(backbone, f"{prefix}layer{i}")) for i in range(1, 5)]
        layers = [(n, m) for n, m in layers if isinstance(m, nn.Module)]
        if layers:
            return layers
    raise ValueError(f"cannot find the stages of {type(backbone).__name__}: expected one of "
                     f"{', '.join(_PATHS)} or layer1..layer4")


def _stage(backbone: nn.Module, index: int) -> nn.Module:
    stages = backbone_stages(backbone)
    if not -len(stages) <= index < len(stages):
        raise ValueError(f"embed_stage={index} is out of range: this backbone has {len(stages)} stages "
                         f"({stages[0][0]} ... {stages[-1][0]}); use 0..{len(stages) - 1} or -1 for the last")
    return stages[index][1]


def stage_width(backbone: nn.Module, index: int) -> int:
    """Channels (or token width) of the output of stage ``index`` (Python indexing, ``-1`` = last).

    Read from the stage's last normalisation, convolution or linear layer, so
    no forward pass (and no input size) is needed.
    """
    for m in reversed(list(_stage(backbone, index).modules())):
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return int(m.num_features)
        if isinstance(m, nn.LayerNorm):
            return int(m.normalized_shape[-1])
        if isinstance(m, nn.Conv2d):
            return int(m.out_channels)
        if isinstance(m, nn.Linear):
            return int(m.out_features)
    raise ValueError(f"cannot tell the width of stage {index} of {type(backbone).__name__}")


class _Stop(Exception):
    """Raised by the hook to end the forward pass once the chosen stage has run."""


def pool_features(out: torch.Tensor, num_prefix_tokens: int = 0) -> torch.Tensor:
    """``(B, D)`` from a stage output: average over space ``(B, C, H, W)`` or tokens ``(B, N, D)``."""
    if out.ndim == 4:
        return out.mean(dim=(2, 3))
    if out.ndim == 3:
        return out[:, num_prefix_tokens:].mean(dim=1)
    return out.flatten(1)


def stage_output(backbone: nn.Module, x: torch.Tensor, index: int) -> torch.Tensor:
    """Raw output of stage ``index`` (``(B, C, H, W)`` or ``(B, N, D)``); the layers after it never run."""
    stage, captured = _stage(backbone, index), []

    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        captured.append(out)
        raise _Stop

    handle = stage.register_forward_hook(hook)
    try:
        backbone(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    out = captured[0]
    return out[0] if isinstance(out, (tuple, list)) else out


def as_tokens(out: torch.Tensor) -> torch.Tensor:
    """A feature map ``(B, C, H, W)`` as tokens ``(B, H * W, C)``; token sequences pass unchanged."""
    return out.flatten(2).transpose(1, 2) if out.ndim == 4 else out


def stage_features(backbone: nn.Module, x: torch.Tensor, index: int) -> torch.Tensor:
    """Pooled ``(B, D)`` output of stage ``index``; the layers after it never run.

    Spatial maps are averaged over ``H, W``; token sequences over the tokens
    after ``backbone.num_prefix_tokens`` (class / register tokens), if any.
    """
    return pool_features(stage_output(backbone, x, index), int(getattr(backbone, "num_prefix_tokens", 0) or 0))
