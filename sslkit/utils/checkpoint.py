"""Safe checkpoint loading, RNG state capture and the environment record.

Everything here keeps checkpoints loadable with ``torch.load(weights_only=True)``:
RNG states are stored as tensors and plain numbers, never as numpy objects or
pickled classes.
"""

from __future__ import annotations

import platform
import random
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

VERSIONED_PACKAGES = ("sslkit", "torch", "lightning", "timm", "transformers", "torchvision", "torchmetrics", "numpy")


def package_versions() -> dict[str, str]:
    """Versions of python and of the packages that decide a run's numbers (``"absent"`` if not installed)."""
    out = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def collect_rng_states() -> dict[str, Any]:
    """The global torch (CPU and every CUDA device), numpy and python RNG states, as weights-only-safe types."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore states returned by :func:`collect_rng_states`."""
    torch.set_rng_state(states["torch"])
    if states.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    n = states["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = states["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))


def safe_load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers only, never arbitrary code.

    Raises:
        FileNotFoundError: no file at ``path``.
        pickle.UnpicklingError: the file holds objects outside the weights-only allow-list
            (e.g. a crafted pickle whose ``__reduce__`` would run code).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location=map_location, weights_only=True)
