"""Backbone registry: ``create_backbone(name, **kwargs)`` and ``list_backbones()``.

Every backbone is an ``nn.Module`` whose ``forward(x)`` returns pooled
features of shape ``(B, num_features)`` and which carries ``num_features``.
Built-in backbones also give token-level features, ``forward_tokens(x) ->
(B, num_prefix_tokens + N, D)`` (ViT tokens, CNN maps as ``H * W`` tokens, text
states), and carry ``num_prefix_tokens``; timm ViTs accept ``forward_tokens(x,
keep=indices)`` to drop masked patches inside the encoder (MAE). Any stage can
be read with :func:`sslkit.backbones.stages.stage_features`.
Names are either registered entries (``tiny_cnn``) or a family prefix plus a
model name: ``timm:resnet18``, ``torchvision:resnet50``.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from collections.abc import Callable
from pathlib import Path

from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_FAMILIES: dict[str, Callable[..., nn.Module]] = {}


def register_backbone(name: str, family: bool = False) -> Callable:
    """Decorator registering a backbone builder under ``name``.

    Args:
        name: registry name; with ``family=True``, a prefix such that
            ``"<name>:<model>"`` calls the builder with ``model`` as first argument.
        family: whether the builder serves a whole family of models.
    """

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        table = _FAMILIES if family else _REGISTRY
        if name in table:
            raise ValueError(f"backbone {name!r} is registered twice")
        table[name] = fn
        return fn

    return wrap


def list_backbones(pattern: str = "*") -> list[str]:
    """Registered backbone names matching a shell-style ``pattern``.

    Families appear as ``"<family>:*"``; ``timm:*`` accepts any name from
    ``timm.list_models()`` and ``torchvision:*`` any ResNet-style classifier
    from ``torchvision.models.list_models()``.
    """
    names = sorted(_REGISTRY) + sorted(f"{f}:*" for f in _FAMILIES)
    return [n for n in names if fnmatch.fnmatch(n, pattern)]


def _unknown(name: str) -> ValueError:
    options = sorted(_REGISTRY) + [f"{f}:<model>" for f in sorted(_FAMILIES)]
    close = difflib.get_close_matches(name, list(_REGISTRY) + list(_FAMILIES), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown backbone {name!r}.{hint} Available: {', '.join(options)}.")


def create_backbone(name: str, weights: str | Path | None = None, **kwargs) -> nn.Module:
    """Build a backbone by registry name.

    Args:
        name: a registered name or ``"<family>:<model>"`` (see :func:`list_backbones`).
        weights: optional path to an exported backbone (``.safetensors``), loaded
            strictly: a missing or unexpected key is an error.
        **kwargs: forwarded to the builder; an unknown keyword raises ``TypeError``.

    Returns:
        The backbone, with attribute ``num_features``.
    """
    if name in _REGISTRY:
        model = _REGISTRY[name](**kwargs)
    elif ":" in name and name.split(":", 1)[0] in _FAMILIES:
        family, model_name = name.split(":", 1)
        model = _FAMILIES[family](model_name, **kwargs)
    else:
        raise _unknown(name)
    if not isinstance(getattr(model, "num_features", None), int):
        raise TypeError(f"backbone {name!r} does not define an integer num_features")
    if weights is not None:
        load_backbone_weights(model, weights)
    return model


def load_backbone_weights(model: nn.Module, path: str | Path) -> None:
    """Load a safetensors state dict into ``model`` strictly, with a readable error."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights not found: {path}")
    if path.suffix != ".safetensors":
        raise ValueError(f"backbone weights must be a .safetensors file (no pickle is loaded), got {path}")
    state = load_file(str(path))
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"weights in {path} do not match the backbone: missing keys {result.missing_keys[:5]}, "
            f"unexpected keys {result.unexpected_keys[:5]}. Was it exported from the same registry name and arguments?"
        )


def read_export_metadata(path: str | Path) -> dict:
    """Read the JSON written next to an exported backbone (registry name and arguments)."""
    return json.loads(Path(path).with_suffix(".json").read_text())
