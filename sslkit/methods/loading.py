"""Rebuild a pretrained method from a checkpoint outside the CLI, safely."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import torch

from sslkit.methods.base import SSLMethod
from sslkit.utils.checkpoint import safe_load
from sslkit.utils.user_code import ClassImportError, import_class, user_module_root


def load_method(path: str | Path, cls: type | None = None, map_location: str | torch.device = "cpu",
                strict: bool = True) -> torch.nn.Module:
    """Rebuild a pretraining checkpoint's method outside the CLI, loading with ``weights_only=True``.

    The class comes from ``cls`` or from the checkpoint's ``_class_path``
    (written by the CLI), which must name a subclass of
    :class:`~sslkit.methods.SSLMethod`: a class of sslkit, of a module already
    imported, or of the user's own code (a module found under the working
    directory or a ``PYTHONPATH`` folder, e.g. ``my_flip.FlipPrediction`` next to
    the recipe); other installed modules are not imported on a file's word
    (pass ``cls=``). Its constructor arguments are the saved
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
        cls = _class_from_checkpoint(path, class_path)
    if not (isinstance(cls, type) and issubclass(cls, SSLMethod)):
        raise TypeError(f"{cls!r} is not an SSLMethod subclass")
    model = cls(**hparams)
    model.load_state_dict(ckpt["state_dict"], strict=strict)
    return model.eval()


def _class_from_checkpoint(path: str | Path, class_path: str) -> type:
    """The SSLMethod subclass a checkpoint names: sslkit's, an already imported module's, or the user's own."""
    module = class_path.rpartition(".")[0]
    # a file names the module: import sslkit's and the user's own (working directory, PYTHONPATH); an installed
    # module must have been imported already (no code runs on a file's word)
    if not (module.startswith("sslkit.") or module in sys.modules or user_module_root(module)):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            raise ClassImportError(f"{path} names class {class_path!r}, which does not import: No module named "
                                   f"{module!r}. Run from the folder that holds {module.replace('.', '/')}.py, add "
                                   "that folder to PYTHONPATH, or pass cls=")
        raise ClassImportError(f"{path} names class {class_path!r}, outside sslkit and not in the working directory or "
                               f"on PYTHONPATH: import {module} first, or pass cls= explicitly if you trust it")
    cls = import_class(class_path)
    if not module.startswith("sslkit.") and not (isinstance(cls, type) and issubclass(cls, SSLMethod)):
        raise ClassImportError(f"{path} names {class_path!r}, outside sslkit and not an SSLMethod subclass; "
                               "pass cls=<the SSLMethod subclass>")
    return cls
