"""Backbones from pretraining checkpoints and exported files; ``sslkit export``.

An exported backbone is two files side by side: ``<name>.safetensors`` (the
backbone state dict, no pickle) and ``<name>.json`` (the registry name and its
arguments), so :func:`backbone_from_export` rebuilds it with nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslkit.backbones import create_backbone
from sslkit.backbones.registry import read_export_metadata
from sslkit.transfer.adapters import ADAPTERS

EXPORT_FORMAT = "sslkit-backbone/1"


def read_checkpoint_backbone(ckpt: str | Path) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    """Registry name, builder arguments and backbone state dict of a Lightning checkpoint.

    The checkpoint is read with ``torch.load(weights_only=True)`` (no arbitrary
    pickle). It must come from a module that saved ``backbone`` and
    ``backbone_kwargs`` hyper-parameters (every :class:`~sslkit.methods.SSLMethod`
    and :class:`~sslkit.transfer.TransferClassifier`) and holds the weights under
    ``backbone.``. A :class:`~sslkit.transfer.TransferClassifier` trained with
    ``lora``, ``ia3`` or ``adalora`` adapters gives the merged backbone: adapters
    folded into the weights, the plain backbone's keys, the adapted model's outputs.
    """
    path = Path(ckpt)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path} (pretrain first, e.g. "
                                f"`sslkit fit --config recipes/pretrain/digits/simclr.yaml`)")
    data = torch.load(path, map_location="cpu", weights_only=True)
    hp = data.get("hyper_parameters", {})
    if "backbone" not in hp:
        raise ValueError(f"{path} has no 'backbone' hyper-parameter: not an sslkit checkpoint")
    state = {k[len("backbone."):]: v for k, v in data["state_dict"].items() if k.startswith("backbone.")}
    if not state:
        raise ValueError(f"{path} holds no 'backbone.*' weights")
    name, kwargs = hp["backbone"], dict(hp.get("backbone_kwargs") or {})
    if hp.get("strategy") in ADAPTERS or any(marker in k for k in state for marker in _ADAPTER_MARKERS):
        state = _merged_adapter_state(path, hp, name, kwargs, state)
    return name, kwargs, state


_ADAPTER_MARKERS = ("lora_", "ia3_", "prompt_encoder", "modules_to_save")


def _merged_adapter_state(path: Path, hp: dict[str, Any], name: str, kwargs: dict[str, Any],
                          state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The plain backbone state of a checkpoint trained with peft adapters (adapters folded into the weights)."""
    from sslkit.transfer.adapters import MERGEABLE, apply_adapter, merge_adapters

    strategy = hp.get("strategy")
    if strategy not in ADAPTERS:
        raise ValueError(f"{path} holds peft adapter weights but no adapter 'strategy' hyper-parameter "
                         f"(got {strategy!r}); export the pretraining checkpoint instead")
    if strategy not in MERGEABLE:
        raise ValueError(f"{path} was trained with {strategy}, which adds virtual tokens that cannot be folded into "
                         f"the backbone's weights; only {', '.join(MERGEABLE)} checkpoints export. Keep using the "
                         f"checkpoint itself (sslkit.methods.load_method), or export the pretraining checkpoint")
    adapted = apply_adapter(create_backbone(name, **kwargs), strategy, hp.get("adapter_kwargs"))
    adapted.load_state_dict(state, strict=True)
    merged = merge_adapters(adapted)
    return {k: v.detach() for k, v in merged.state_dict().items()}


def backbone_from_checkpoint(ckpt: str | Path) -> nn.Module:
    """Build the registry backbone of a checkpoint and load its weights strictly."""
    name, kwargs, state = read_checkpoint_backbone(ckpt)
    model = create_backbone(name, **kwargs)
    model.load_state_dict(state, strict=True)
    return model


def backbone_from_export(path: str | Path) -> nn.Module:
    """Rebuild an exported backbone from its ``.safetensors`` file and the JSON next to it."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} is missing: an exported backbone needs its JSON (registry name, arguments)")
    meta = read_export_metadata(path)
    if meta.get("format") != EXPORT_FORMAT or "backbone" not in meta:
        raise ValueError(f"{meta_path} is not an sslkit backbone export (format {meta.get('format')!r})")
    return create_backbone(meta["backbone"], weights=path, **meta.get("backbone_kwargs", {}))


def export_backbone(ckpt: str | Path, out: str | Path) -> Path:
    """Write the backbone of ``ckpt`` to ``out`` (``.safetensors``) and its metadata to ``out`` with ``.json``.

    For a checkpoint trained with ``lora`` / ``ia3`` / ``adalora`` adapters, the
    merged backbone (see :func:`read_checkpoint_backbone`), loadable strictly into
    the plain registry backbone.

    Returns:
        The path of the safetensors file.
    """
    from safetensors.torch import save_file

    out = Path(out)
    if out.suffix != ".safetensors":
        raise ValueError(f"--out must end in .safetensors, got {out}")
    name, kwargs, state = read_checkpoint_backbone(ckpt)  # adapters, if any, already merged
    model = create_backbone(name, **kwargs)
    model.load_state_dict(state, strict=True)  # fails early on a mismatched checkpoint
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(out))
    meta = {"format": EXPORT_FORMAT, "backbone": name, "backbone_kwargs": kwargs,
            "num_features": int(model.num_features), "source": str(ckpt)}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return out


def build_backbone(backbone: str = "tiny_cnn", backbone_kwargs: dict[str, Any] | None = None,
                   checkpoint: str | None = None, weights: str | None = None) -> tuple[nn.Module, str, dict[str, Any]]:
    """The backbone from one of three sources, in this order of precedence.

    Args:
        backbone: registry name (used when neither file is given).
        backbone_kwargs: its builder arguments.
        checkpoint: a pretraining (or transfer) Lightning checkpoint ``.ckpt``.
        weights: an exported backbone ``.safetensors`` with its JSON.

    Returns:
        ``(module, registry name, builder arguments)``.
    """
    if checkpoint and weights:
        raise ValueError("give either checkpoint or weights, not both")
    if checkpoint:
        name, kwargs, state = read_checkpoint_backbone(checkpoint)
        model = create_backbone(name, **kwargs)
        model.load_state_dict(state, strict=True)
        return model, name, kwargs
    if weights:
        meta = read_export_metadata(weights) if Path(weights).with_suffix(".json").is_file() else {}
        if meta:
            return backbone_from_export(weights), meta["backbone"], dict(meta.get("backbone_kwargs", {}))
        kwargs = dict(backbone_kwargs or {})
        return create_backbone(backbone, weights=weights, **kwargs), backbone, kwargs
    kwargs = dict(backbone_kwargs or {})
    return create_backbone(backbone, **kwargs), backbone, kwargs
