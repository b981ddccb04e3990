"""Safe checkpoint loading and writing, RNG state capture and the environment record.

Everything here keeps checkpoints loadable with ``torch.load(weights_only=True)``:
RNG states are stored as tensors and plain numbers, never as numpy objects or
pickled classes.
"""

from __future__ import annotations

import errno
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


# ---------------------------------------------------------------- writing and finding checkpoints safely
#: errno values that mean "this folder cannot take the file": full disk, quota, permissions, read-only mount.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG})


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (full disk, unwritable folder); the previous ones are untouched."""


def write_error_message(path: str | Path, err: OSError) -> str:
    """One sentence for a failed checkpoint or log write: the file, the reason and what to do."""
    path = Path(path)
    reason = err.strerror or str(err)
    name = errno.errorcode.get(err.errno, "") if err.errno else ""
    fix = ("free disk space (or raise the quota)" if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
           else "make the folder writable" if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
           else "check the folder")
    intact = [p for p in sorted(path.parent.glob("*.ckpt"), key=lambda p: p.stat().st_mtime)] if path.parent.is_dir() else []
    kept = f"; the previous checkpoint {intact[-1]} is intact" if intact else ""
    return (f"could not write {path}: {reason}{f' ({name})' if name else ''}{kept}. The run stopped. To continue, "
            f"{fix} or point trainer.default_root_dir / the ModelCheckpoint dirpath at another folder, then rerun "
            "with --ckpt_path last")


def checkpoint_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be resumed from (truncated, corrupt, not a checkpoint), or ``None`` if it loads.

    Loads with ``weights_only=True`` and ``mmap=True`` (the tensors are not read into memory). A file that
    is complete but holds objects outside the weights-only allow-list counts as readable: whether to trust
    it is ``--weights_only``'s decision, made when Lightning loads it.
    """
    import pickle

    try:
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            ckpt = torch.load(path, map_location="cpu", weights_only=True)  # a legacy (non-zip) file
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e) and "Unsupported global" in str(e):
            return None
        return _first_line(e)
    except Exception as e:  # noqa: BLE001  (every way a file can fail to load is a reason to report)
        return _first_line(e)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        return "it is not a Lightning checkpoint (no state_dict)"
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else "the file ended early"
    return f"{type(e).__name__}: {text[:160]}"


def newest_intact_checkpoint(folders: list[Path], exclude: Path | None = None) -> tuple[Path, int] | None:
    """The most recently written ``*.ckpt`` in ``folders`` that loads, with its global step; ``None`` if none does."""
    found = {p.resolve() for f in folders if f.is_dir() for p in f.glob("*.ckpt")}
    found.discard(exclude.resolve() if exclude else None)
    for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True):
        if checkpoint_problem(p) is None:
            step = torch.load(p, map_location="cpu", weights_only=True, mmap=True).get("global_step", -1)
            return p, int(step)
    return None
