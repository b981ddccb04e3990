"""Rebuild a pretrained method from a checkpoint outside the CLI, safely."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

from sslkit.methods.base import SSLMethod
from sslkit.utils.checkpoint import safe_load


def load_method(path: str | Path, cls: type | None = None, map_location: str | torch.device = "cpu",
                strict: bool = True) -> torch.nn.Module:
    """Rebuild a pretraining checkpoint's method outside the CLI, loading with ``weights_only=True``.

    The class comes from ``cls`` or from the checkpoint's ``_class_path``
    (written by the CLI), which must name a subclass of
    :class:`~sslkit.methods.SSLMethod`; its constructor arguments are the saved
    hyperparameters (optimizer and scheduler are left at their defaults). The
    weights load strictly and the model is returned in eval mode.

    Args:
        path: a ``.ckpt`` written by ``sslkit fit`` (or any Lightning checkpoint of an SSLMethod).
        cls: the method class, when the checkpoint does not record one.
        map_location: where tensors are loaded.
        strict: whether missing or unexpected weights are an error.

    Returns:
        The method (a LightningModule), in eval mode.
    """
    ckpt = safe_load(path, map_location)
    hparams = dict(ckpt.get("hyper_parameters") or {})
    class_path = hparams.pop("_class_path", None)
    hparams.pop("_instantiator", None)
    if cls is None:
        if class_path is None:
            raise ValueError(f"{path} does not record its method class; pass cls=<the SSLMethod subclass>")
        module, _, name = class_path.rpartition(".")
        if not module.startswith("sslkit."):  # never import a module named by an untrusted file
            raise ValueError(f"{path} names class {class_path!r} outside sslkit; pass cls= explicitly if you trust it")
        cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, SSLMethod)):
        raise TypeError(f"{cls!r} is not an SSLMethod subclass")
    model = cls(**hparams)
    model.load_state_dict(ckpt["state_dict"], strict=strict)
    return model.eval()
