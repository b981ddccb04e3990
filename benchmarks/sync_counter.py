"""Count, on any device, the calls that make the host wait for a GPU, and the collectives, inside training steps.

A CUDA device reports its synchronisations (``torch.cuda.set_sync_debug_mode``);
a CPU has none, so this module wraps the Python entry points that synchronise
when the tensor lives on a GPU and counts every call made while counting is on:

* device to host: ``Tensor.item / tolist / cpu / numpy``, ``bool() / float() / int()``
  of a tensor (``if loss:``, ``float(loss)``), ``torch.nonzero`` /
  ``Tensor.nonzero``, ``torch.masked_select``, ``torch.unique``, indexing or
  assigning with a boolean mask (``x[mask]``: its size depends on the values),
  ``Tensor.to("cpu")`` (the string: a ``torch.device`` is usually the module's
  own device, which is the GPU on a GPU) and ``torch.cuda.synchronize``;
* host to device: ``torch.tensor`` / ``torch.as_tensor`` with a ``device=``
  (a Python number copied from pageable memory: a blocking copy on CUDA; e.g.
  ``self.log("x", 0.5)`` does it);
* collectives: every ``torch.distributed`` collective function, and the DDP
  reducer's gradient all-reduce (counted as one call per backward while a
  ``DistributedDataParallel`` model is in use).

Each call is attributed to the first stack frame outside torch (``file:line``),
so a report names the line to fix. On a CPU the same calls run on host
tensors and cost nothing: this counts what *would* stall a GPU. Calls on
tensors that stay on the host on a GPU too (torch's optimizers keep their step
counters there) are reported with their location, and
:data:`HOST_ONLY` lists the known ones.

    with SyncCounter() as counter:
        counter.enabled = True
        ...                            # code under audit
        counter.enabled = False
    counter.counts                     # Counter({"sslkit/x.py:12 item": 3, ...})

:class:`SyncAuditCallback` counts every training step of a fit and keeps a
per-step tally (``--trainer.callbacks+=sync_counter.SyncAuditCallback`` with
``benchmarks/`` on ``sys.path``; ``benchmarks/sync_audit.py --fit`` does it).
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import threading
import warnings
from typing import Any

import lightning as L
import torch

#: Location prefixes whose calls act on tensors that stay on the host on a GPU as well, with the reason.
HOST_ONLY: dict[str, str] = {
    "torch/optim/": "torch's optimizers keep their step counters on the CPU unless capturable=True or fused=True",
}

_TORCH_DIR = os.path.dirname(torch.__file__)
_OPTIM_DIR = os.path.join(_TORCH_DIR, "optim")
_HERE = os.path.abspath(__file__)
_D2H_METHODS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__", "nonzero")
_D2H_FUNCTIONS = ("nonzero", "masked_select", "unique", "argwhere")
_H2D_FUNCTIONS = ("tensor", "as_tensor")
_COLLECTIVES = ("all_reduce", "all_gather", "all_gather_into_tensor", "all_gather_object", "broadcast",
                "broadcast_object_list", "reduce", "reduce_scatter", "reduce_scatter_tensor", "all_to_all",
                "all_to_all_single", "barrier", "gather", "scatter", "send", "recv")


def _is_bool_mask(index: Any) -> bool:
    if isinstance(index, torch.Tensor):
        return index.dtype == torch.bool
    if isinstance(index, tuple):
        return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
    return False


def _to_host(args: tuple, kwargs: dict) -> bool:
    """``.to("cpu")`` spelt out: a ``torch.device`` argument is usually the module's device (the GPU on a GPU)."""
    target = kwargs.get("device", args[0] if args else None)
    return isinstance(target, str) and target.startswith("cpu")


class SyncCounter:
    """Context manager that wraps the synchronising entry points; counts while :attr:`enabled` is true.

    Attributes:
        enabled: count calls (set it around the code under audit).
        counts: ``Counter`` of ``"<file>:<line> <kind>"`` -> calls, where kind is the call
            (``item``, ``__bool__``, ``tensor(device=)``, ``all_reduce``, ...).
    """

    def __init__(self) -> None:
        self.enabled = False
        self.counts: collections.Counter[str] = collections.Counter()
        self._saved: list[tuple[Any, str, Any]] = []
        self._local = threading.local()

    # ------------------------------------------------------------------ recording
    def _where(self) -> str:
        frame, optim = sys._getframe(2), None
        while frame is not None:
            path = frame.f_code.co_filename
            if optim is None and path.startswith(_OPTIM_DIR):
                optim = f"torch/optim/{path[len(_OPTIM_DIR):].lstrip(os.sep)}:{frame.f_lineno}"
            if not path.startswith(_TORCH_DIR) and os.path.abspath(path) != _HERE:
                return optim or f"{_short(path)}:{frame.f_lineno}"
            frame = frame.f_back
        return optim or "?"

    def record(self, kind: str) -> None:
        """Count one call of ``kind`` at the caller's location (if enabled, and not nested in a counted call)."""
        if self.enabled and not getattr(self._local, "busy", False):
            self.counts[f"{self._where()} {kind}"] += 1

    def total(self, kinds: tuple[str, ...] | None = None) -> int:
        """Calls counted (of the given kinds, e.g. ``("all_reduce",)``), host-only locations excluded."""
        return sum(n for key, n in self.counts.items() if (kinds is None or key.split(" ")[-1] in kinds)
                   and not host_only(key))

    def _wrap(self, owner: Any, name: str, kind: str | None = None, when=None) -> None:
        original = getattr(owner, name, None)
        if original is None:
            return
        counter = self

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            if counter.enabled and not getattr(counter._local, "busy", False) and (when is None or when(args, kwargs)):
                counter.counts[f"{counter._where()} {kind or name}"] += 1
            busy = getattr(counter._local, "busy", False)
            counter._local.busy = True  # torch's own nested calls (item() inside tolist()) count once
            try:
                return original(*args, **kwargs)
            finally:
                counter._local.busy = busy

        self._saved.append((owner, name, original))
        setattr(owner, name, wrapper)

    def __enter__(self) -> SyncCounter:
        T = torch.Tensor
        for name in _D2H_METHODS:
            self._wrap(T, name)
        self._wrap(T, "to", "to(cpu)", when=lambda a, k: _to_host(a[1:], k))
        self._wrap(T, "__getitem__", "x[bool mask]", when=lambda a, k: _is_bool_mask(a[1]))
        self._wrap(T, "__setitem__", "x[bool mask]=", when=lambda a, k: _is_bool_mask(a[1]))
        for name in _D2H_FUNCTIONS:
            self._wrap(torch, name)
        for name in _H2D_FUNCTIONS:
            self._wrap(torch, name, f"{name}(device=)", when=lambda a, k: k.get("device") is not None)
        self._wrap(torch.cuda, "synchronize")
        import torch.distributed as dist

        for name in _COLLECTIVES:
            self._wrap(dist, name)
        from torch.nn.parallel import DistributedDataParallel

        self._wrap(DistributedDataParallel, "forward", "DDP forward (gradient all-reduce in backward)")
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()
        self.enabled = False

    def report(self, steps: int = 1) -> str:
        """One line per location, most calls first, as calls per step."""
        lines = []
        for key, n in self.counts.most_common():
            note = "  (host tensor on a GPU too: " + host_only(key) + ")" if host_only(key) else ""
            lines.append(f"  {n / steps:7.2f}/step  {key}{note}")
        return "\n".join(lines)


def _short(path: str) -> str:
    for marker in ("site-packages" + os.sep, os.sep + "sslkit" + os.sep, os.sep + "benchmarks" + os.sep,
                   os.sep + "tests" + os.sep):
        if marker in path:
            i = path.rindex(marker)
            return path[i + len(marker):] if marker.startswith("site") else path[i + 1:]
    return path


def host_only(key: str) -> str:
    """Why the call at ``key`` stays on the host on a GPU, or ``""``."""
    where = key.split(" ")[0]
    for suffix, why in HOST_ONLY.items():
        if where.startswith(suffix):
            return why
    return ""


class SyncAuditCallback(L.Callback):
    """Counts the synchronising calls of every training step of a fit.

    A step's window opens at ``on_train_batch_start`` and closes at the next
    one (or at the end of the epoch, the start of validation, the end of
    fitting): it holds every hook of the step (callbacks, the module, the
    optimizer, Lightning's own bookkeeping and logging after the batch, the
    learning-rate scheduler) and the fetch and transfer of the next batch.
    Validation and epoch-end work are outside every window.

    Steps whose batch is a logging step (Lightning writes to its loggers every
    ``log_every_n_steps``, and the learning-rate monitor reads then) are tallied
    apart, in :attr:`logging_steps`; the others, the steps a GPU must run without
    waiting, in :attr:`steps`. Place it first among the callbacks.

    The callback owns its :class:`SyncCounter` (:attr:`counter`), which wraps
    torch from ``on_fit_start`` to ``teardown``.

    Args:
        skip_steps: first steps not counted (set-up that happens once).
    """

    def __init__(self, skip_steps: int = 1) -> None:
        self.counter, self.skip_steps = SyncCounter(), skip_steps
        #: on a CUDA device: what ``torch.cuda.set_sync_debug_mode`` reports in non-logging steps, by source line
        self.cuda_counts: collections.Counter[str] = collections.Counter()
        self._caught: list | None = None
        self._catcher: warnings.catch_warnings | None = None
        self.steps: list[collections.Counter[str]] = []
        self.logging_steps: list[collections.Counter[str]] = []
        self._before: collections.Counter[str] | None = None
        self._logging = False

    def _close(self) -> None:
        self.counter.enabled = False
        if self._before is None:
            return
        if self._caught is not None:
            torch.cuda.set_sync_debug_mode(0)
            if not self._logging:
                self.cuda_counts.update(f"{_short(w.filename)}:{w.lineno}" for w in self._caught
                                        if "synchroniz" in str(w.message))
            self._caught.clear()
        step = collections.Counter(self.counter.counts)
        step.subtract(self._before)
        (self.logging_steps if self._logging else self.steps).append(+step)
        self._before = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._close()
        if trainer.global_step < self.skip_steps:
            return
        self._logging = trainer._logger_connector.should_update_logs
        self._before = collections.Counter(self.counter.counts)
        self.counter.enabled = True
        if self._caught is not None:
            self._caught.clear()
            torch.cuda.set_sync_debug_mode(1)  # warn

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.counter.__enter__()
        if pl_module.device.type == "cuda":
            self._catcher = warnings.catch_warnings(record=True)
            self._caught = self._catcher.__enter__()
            warnings.simplefilter("always")

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.counter.__exit__()
        if self._catcher is not None:
            torch.cuda.set_sync_debug_mode(0)
            self._catcher.__exit__(None, None, None)
            self._catcher, self._caught = None, None

    def per_step(self) -> collections.Counter[str]:
        """Calls per location summed over the non-logging steps."""
        total: collections.Counter[str] = collections.Counter()
        for step in self.steps:
            total.update(step)
        return total
