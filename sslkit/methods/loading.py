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
        module = class_path.rpartition(".")[0]
        # a file names the module: import sslkit's, ones already imported, and the user's own (working directory,
        # PYTHONPATH), never an arbitrary installed one
        if not (module.startswith("sslkit.") or module in sys.modules or user_module_root(module)):
            found = importlib.util.find_spec(module.split(".")[0]) is not None
            raise ClassImportError(
                f"{path} names class {class_path!r}, " + (f"and {module} is not in the working directory or on "
                "PYTHONPATH: import it first, or pass cls=" if found else
                f"which does not import: No module named {module!r}. Run from the folder that holds "
                f"{module.replace('.', '/')}.py, add that folder to PYTHONPATH, or pass cls="))
        cls = import_class(class_path)
    if not (isinstance(cls, type) and issubclass(cls, SSLMethod)):
        raise TypeError(f"{cls!r} is not an SSLMethod subclass")
    model = cls(**hparams)
    model.load_state_dict(ckpt["state_dict"], strict=strict)
    return model.eval()
