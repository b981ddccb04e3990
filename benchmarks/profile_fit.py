"""Where a training step of ``sslkit fit`` spends its time, against the bare loop: one short torch.profiler run.

Runs ``sslkit fit`` on a recipe (synthetic data of its shape, every default
callback) and profiles ``--steps`` training steps after ``--warmup`` with
``torch.profiler`` (CPU and, on a GPU, CUDA activity), then the bare device
loop of ``benchmarks/throughput.py`` (same model, batch and augmentation, no
Lightning) the same way. Prints per step, for both: wall time, GPU busy time,
aten ops dispatched, synchronising calls seen by the profiler
(``cudaStreamSynchronize``, ``cudaDeviceSynchronize``, blocking ``cudaMemcpy``,
``aten::item`` / ``aten::_local_scalar_dense``), collectives (``nccl:`` /
``gloo:``), and the ops with the most host (CPU self) time in each. A
Chrome trace of the fit goes to ``--trace`` (open in chrome://tracing or Perfetto).

    python benchmarks/profile_fit.py                                   # CPU: tiny backbone, 10 steps
    python benchmarks/profile_fit.py --full-model --bf16 --steps 30 --batch-size 256 --trace fit_trace.json   # GPU
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_audit import fit_args  # noqa: E402

SYNC_EVENTS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy ",
               "aten::_local_scalar_dense", "aten::item")


class ProfileSteps(L.Callback):
    """Profiles training steps ``warmup`` .. ``warmup + steps`` of a fit (from a batch start to the next)."""

    def __init__(self, warmup: int = 5, steps: int = 10) -> None:
        self.warmup, self.steps = warmup, steps
        self.prof: profile | None = None
        self.seconds = 0.0
        self._start = 0.0
        self._seen = 0

    def _sync(self, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._seen == self.warmup:
            self._sync(pl_module)
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if pl_module.device.type == "cuda" else [])
            self.prof = profile(activities=activities)
            self.prof.__enter__()
            self._start = time.perf_counter()
        elif self._seen == self.warmup + self.steps:
            self._stop(pl_module)
        self._seen += 1

    def _stop(self, pl_module: L.LightningModule) -> None:
        if self.prof is not None and self._start:
            self._sync(pl_module)
            self.seconds = time.perf_counter() - self._start
            self.prof.__exit__(None, None, None)
            self._start = 0.0

    def on_train_end(self, trainer, pl_module) -> None:
        self._stop(pl_module)


def summarise(prof: profile, steps: int, seconds: float) -> dict:
    """Per-step numbers from a profile of ``steps`` steps."""
    events = prof.events()
    names = collections.Counter(e.name for e in events)
    gpu_us = sum(e.device_time_total for e in events if e.device_type.name == "CUDA") if events else 0
    top = sorted(prof.key_averages(), key=lambda a: a.self_cpu_time_total, reverse=True)[:12]
    return {
        "ms_per_step": 1000 * seconds / steps,
        "gpu_busy_ms_per_step": gpu_us / 1000 / steps,
        "aten_ops_per_step": sum(n for k, n in names.items() if k.startswith("aten::")) / steps,
        "syncs_per_step": {k: n / steps for k, n in names.items() if any(k.startswith(s.strip()) for s in SYNC_EVENTS)},
        "collectives_per_step": {k: n / steps for k, n in names.items() if k.startswith(("nccl:", "gloo:"))},
        "top_cpu_self_ms_per_step": {a.key: a.self_cpu_time_total / 1000 / steps for a in top},
    }


def profile_fit(args: argparse.Namespace) -> dict:
    from sslkit.cli import SSLKitCLI

    with tempfile.TemporaryDirectory() as root:
        extra = ["--trainer.enable_progress_bar=true"]
        if torch.cuda.is_available():
            extra.append(f"--trainer.precision={'bf16-mixed' if args.bf16 else '32-true'}")
        cli_args = fit_args(args.recipe, root, args.warmup + args.steps + 2, args.full_model, log_every=50,
                            batch_size=args.batch_size, extra=extra + args.extra)
        cli_args += ['--trainer.callbacks+={"class_path": "profile_fit.ProfileSteps", "init_args": '
                     f'{{"warmup": {args.warmup}, "steps": {args.steps}}}}}']
        cli = SSLKitCLI(args=cli_args)
        cb = next(c for c in cli.trainer.callbacks if type(c).__name__ == "ProfileSteps")
        model, dm = cli.model, cli.datamodule
    if args.trace and cb.prof is not None:
        cb.prof.export_chrome_trace(args.trace)
    out = summarise(cb.prof, args.steps, cb.seconds)
    out["bare"] = profile_bare(model, dm, args)
    return out


def profile_bare(model: L.LightningModule, dm, args: argparse.Namespace) -> dict:
    """The same model, optimizer kind (SGD) and augmentation in a bare loop, profiled the same way."""
    device = next(model.parameters()).device
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16 and device.type == "cuda")
    loader = iter(dm.train_dataloader())

    def step() -> None:
        nonlocal loader
        try:
            x, y = next(loader)
        except StopIteration:
            loader = iter(dm.train_dataloader())
            x, y = next(loader)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast:
            loss = model.training_loss(dm.augment_batch(x))["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return summarise(prof, args.steps, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default=str(Path(__file__).resolve().parents[1] / "recipes/pretrain/cifar10/simclr.yaml"))
    p.add_argument("--steps", type=int, default=10, help="profiled steps (30 on a GPU)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--full-model", action="store_true", help="keep the recipe's backbone (default: a tiny one)")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--trace", help="write the fit's Chrome trace here")
    p.add_argument("--json", help="write the numbers here")
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = p.parse_args(argv[:len(argv) - len(extra) - (1 if "--" in argv else 0)])
    args.extra = extra
    os.environ.setdefault("WANDB_MODE", "disabled")
    out = profile_fit(args)
    fit, bare = out, out["bare"]
    print(f"{Path(args.recipe).name}, {args.steps} steps, batch {args.batch_size}, "
          f"{'GPU' if torch.cuda.is_available() else 'CPU'}: per step   fit | bare loop")
    for key in ("ms_per_step", "gpu_busy_ms_per_step", "aten_ops_per_step"):
        print(f"  {key:24s} {fit[key]:9.2f} | {bare[key]:9.2f}")
    print(f"  syncs     fit {json.dumps(fit['syncs_per_step'])}  bare {json.dumps(bare['syncs_per_step'])}")
    print(f"  collectives fit {json.dumps(fit['collectives_per_step'])}")
    for name, d in (("fit", fit), ("bare loop", bare)):
        print(f"  top host-side ops of the {name} (self CPU ms per step):")
        for k, v in d["top_cpu_self_ms_per_step"].items():
            print(f"    {v:8.2f}  {k}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
