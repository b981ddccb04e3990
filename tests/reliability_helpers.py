"""Shared tiny configs for the reliability tests (imported by test_reliability_*.py)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import yaml

from conftest import read_metrics

TRACKED = ("train/loss", "probe/train_loss", "probe/linear_acc", "collapse/std", "collapse/rank", "lr-AdamW/pg1")


class Interrupt(L.Callback):
    """Simulates a crash: raises at the start of the step after ``at_step`` optimizer steps."""

    def __init__(self, at_step: int = 1) -> None:
        self.at_step = at_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.at_step:
            raise KeyError(f"simulated interruption at step {self.at_step}")  # KeyboardInterrupt would end gracefully


def tiny_config(root: Path, seed: int = 0, epochs: int = 2, batches: int = 3, interrupt_at: int | None = None,
                step_ckpts: bool = False, extra_callbacks: list | None = None) -> Path:
    """Write a tiny deterministic SimCLR-on-digits config (16 px, 3 batches of 32 per epoch) and return its path."""
    callbacks = [{"class_path": "sslkit.callbacks.OnlineLinearProbe"},
                 {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                  "init_args": {"dirpath": str(root / "checkpoints"), "save_last": True}}]
    if step_ckpts:
        callbacks.append({"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                          "init_args": {"dirpath": str(root / "steps"), "every_n_train_steps": 1, "save_top_k": -1,
                                        "filename": "{step}"}})
    if interrupt_at is not None:
        callbacks.append({"class_path": "reliability_helpers.Interrupt", "init_args": {"at_step": interrupt_at}})
    callbacks += extra_callbacks or []
    cfg = {
        "seed_everything": seed,
        "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": epochs, "limit_train_batches": batches,
                    "limit_val_batches": 1, "num_sanity_val_steps": 0, "log_every_n_steps": 1, "deterministic": True,
                    "default_root_dir": str(root), "callbacks": callbacks},
        "model": {"class_path": "sslkit.methods.SimCLR", "init_args": {
            "backbone": "tiny_cnn", "backbone_kwargs": {"widths": [8, 16]}, "proj_hidden_dim": 32, "proj_output_dim": 16,
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.003}},
            "lr_scheduler": {"class_path": "sslkit.utils.WarmupCosineLR", "init_args": {"warmup_epochs": 1}}}},
        "data": {"class_path": "sslkit.data.DigitsDataModule", "init_args": {
            "load_size": 16, "batch_size": 32, "eval_batch_size": 64,
            "views": [{"size": 16, "num_views": 2, "crop_scale": [0.4, 1.0]}]}},
    }
    root.mkdir(parents=True, exist_ok=True)
    path = root.parent / f"{root.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def metric_table(root: Path, version: int | None = None) -> dict[tuple[str, int], float]:
    """``{(metric, step): value}`` of the tracked metrics of one run's metrics.csv."""
    if version is None:
        rows = read_metrics(root)
    else:
        import csv

        with open(root / "csv" / f"version_{version}" / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
    return {(name, int(r["step"])): float(r[name]) for r in rows for name in TRACKED if r.get(name)}


class KillAt(L.Callback):
    """SIGKILLs this process at one point of training (the process gets no chance to clean up).

    ``site``: ``step`` (after the backward pass of optimizer step ``step``, before the weights change),
    ``validation`` (at the first validation batch once ``step`` steps are done) or ``ckpt_write`` (half-way
    through writing the first checkpoint file after step ``step`` whose name starts with ``file``). ``naive_writer=True`` replaces the atomic
    writer by one that writes straight into the target file (the control of the kill test).
    """

    SITES = ("step", "ckpt_write", "validation")  # in the order they happen for one step count

    def __init__(self, site: str, step: int, naive_writer: bool = False, file: str = "") -> None:
        if site not in self.SITES:
            raise ValueError(f"site must be one of {self.SITES}")
        self.site, self.step, self.naive_writer, self.file = site, step, naive_writer, file

    @staticmethod
    def _kill() -> None:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)

    def setup(self, trainer, pl_module, stage) -> None:
        if self.site != "ckpt_write":
            return
        from sslkit.callbacks.checkpointing import AtomicCheckpointIO

        original, this = AtomicCheckpointIO._write, self

        def write(path, data):
            if trainer.global_step == this.step and Path(path).name.lstrip(".").startswith(this.file):
                with open(path, "wb") as f:
                    f.write(bytes(data[: len(data) // 2]))
                    f.flush()
                this._kill()
            original(path, data)

        AtomicCheckpointIO._write = staticmethod(write)
        if self.naive_writer:
            import io

            import torch

            def naive_save(io_self, checkpoint, path, storage_options=None):
                buffer = io.BytesIO()
                torch.save(checkpoint, buffer)
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                write(path, buffer.getbuffer())  # straight into the target: no temporary file, no rename

            AtomicCheckpointIO.save_checkpoint = naive_save

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self.site == "step" and trainer.global_step + 1 == self.step:
            self._kill()

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.site == "validation" and trainer.global_step == self.step and not trainer.sanity_checking:
            self._kill()


def kill_points(seed: int, steps: int, epoch_ends: tuple[int, ...]) -> list[tuple[str, int]]:
    """One kill point per site, drawn from ``seed``, in the order a run meets them."""
    import random

    rng = random.Random(seed)
    points = [("step", rng.randint(1, steps - 1)), ("ckpt_write", rng.randint(1, steps - 1)),
              ("validation", rng.choice(epoch_ends))]
    return sorted(points, key=lambda p: (p[1], KillAt.SITES.index(p[0])))


class FailOnRank(L.Callback):
    """Raises on one process of a distributed run, at the start of one step (a crash on one GPU)."""

    def __init__(self, rank: int = 1, step: int = 2, stamp: str = "", report: bool = True) -> None:
        self.rank, self.step, self.stamp, self.report = rank, step, stamp, report

    def setup(self, trainer, pl_module, stage) -> None:
        if not self.report:  # control: without sslkit's failure report
            from sslkit.callbacks.guards import RankFailureReport

            trainer.callbacks[:] = [c for c in trainer.callbacks if not isinstance(c, RankFailureReport)]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_rank == self.rank and trainer.global_step == self.step:
            if self.stamp:
                import time

                Path(self.stamp).write_text(repr(time.time()))
            raise RuntimeError(f"simulated failure on rank {self.rank} at step {self.step}")


def held_bytes(obj, depth: int = 0, seen: set | None = None) -> int:
    """Bytes of the tensors an object holds (attributes, containers, modules, torchmetrics states), 4 levels deep."""
    import torch

    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 4:
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(held_bytes(v, depth + 1, seen) for v in obj.values())
    if isinstance(obj, (list, tuple, set)):
        return sum(held_bytes(v, depth + 1, seen) for v in obj)
    if isinstance(obj, torch.nn.Module):  # parameters, buffers and torchmetrics states live in __dict__ too
        return sum(held_bytes(v, depth + 1, seen) for v in vars(obj).values())
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith(("sslkit", "reliability_helpers")):
        return sum(held_bytes(v, depth + 1, seen) for k, v in vars(obj).items() if k != "trainer")
    return 0


class ResourceProbe(L.Callback):
    """At each epoch end: the process RSS, its open file descriptors and the bytes every other callback holds.

    ``leak=True`` is the control: it leaks 3% of the RSS, one open file and a growing list per epoch.
    """

    last: ResourceProbe | None = None  # the most recent instance (the CLI builds it from the config)

    def __init__(self, leak: bool = False) -> None:
        ResourceProbe.last = self
        self.rss: list[int] = []
        self.fds: list[int] = []
        self.held: list[dict[str, int]] = []
        self.leak = leak
        self._leaked: list = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        import gc
        import os

        import psutil
        import torch

        if self.leak:  # 3% of the process's RSS per epoch (whatever else the process holds), touched
            self._leaked.append(torch.ones(int(0.03 * psutil.Process().memory_info().rss) // 4))
            self._leaked.append(open(os.devnull))  # noqa: SIM115  (the leak is the point)
        gc.collect()
        self.rss.append(psutil.Process().memory_info().rss)
        self.fds.append(len(os.listdir("/proc/self/fd")))
        self.held.append({type(c).__name__: held_bytes(c) for c in trainer.callbacks if c is not self}
                         | {"leak": held_bytes(self._leaked)})
