"""The fault matrix of docs/reliability.md: one test (and its control) per fault a long job meets.

Rows: 1 killed at any moment, 2 corrupt / truncated checkpoint, 3 full disk or unwritable folder,
4 a dead rank under DDP, 5 a skipped fp16 step, 6 bad data mid-run, 7 long runs hold (RSS, files, state).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import RECIPES, ROOT, run_cli
from lightning.pytorch.plugins import MixedPrecision
from torch.utils.data import TensorDataset
from reliability_helpers import ResourceProbe, kill_points, tiny_config

from sslkit.callbacks.checkpointing import AtomicCheckpointIO
from sslkit.data import DigitsDataModule
from sslkit.data.checks import BadDataError
from sslkit.methods import MoCoV2
from sslkit.transforms import ViewAugment
from sslkit.utils import WarmupCosineLR
from sslkit.utils.checkpoint import checkpoint_problem
from sslkit.utils.momentum import StepTracker

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ---------------------------------------------------------------- 5. a skipped optimizer step under fp16
class OverflowAt(MoCoV2):
    """MoCo v2 whose loss is scaled by 1e6 at one step: finite, but its fp16 gradients overflow."""

    def __init__(self, overflow_step: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.overflow_step = overflow_step

    def training_loss(self, views):
        out = super().training_loss(views)
        if self.trainer.global_step == self.overflow_step:
            out["loss"] = out["loss"] * 1e6
        return out


class StateSpy(L.Callback):
    """Copies weights, EMA target, queue, lr and loss scale before and after every batch."""

    def __init__(self) -> None:
        self.before: dict[int, dict] = {}
        self.after: dict[int, dict] = {}

    @staticmethod
    def _state(trainer, pl_module) -> dict:
        return {"online": [p.detach().clone() for p in pl_module.backbone.parameters()],
                "target": [p.detach().clone() for p in pl_module.target.parameters()],
                "target_step": int(pl_module.target.last_step),
                "queue": pl_module.queue.features.clone(), "ptr": int(pl_module.queue.ptr),
                "lr": trainer.optimizers[0].param_groups[0]["lr"],
                "sched": trainer.lr_scheduler_configs[0].scheduler.last_epoch,
                "scale": trainer.precision_plugin.scaler.get_scale()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before[batch_idx] = self._state(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after[batch_idx] = self._state(trainer, pl_module)


def _moved(a: dict, b: dict) -> dict[str, bool]:
    same = lambda x, y: all(torch.equal(u, v) for u, v in zip(x, y))  # noqa: E731
    return {"online": not same(a["online"], b["online"]), "target": not same(a["target"], b["target"]),
            "queue": not torch.equal(a["queue"], b["queue"]) or a["ptr"] != b["ptr"],
            "lr": a["lr"] != b["lr"] or a["sched"] != b["sched"]}


def _fp16_fit(tmp_path, digits, steps: int = 4) -> StateSpy:
    """4 steps of a tiny MoCo v2 under Lightning's 16-mixed plugin with a CPU GradScaler (step 2 overflows)."""
    L.seed_everything(0)
    model = OverflowAt(backbone_kwargs={"widths": [8, 16]}, proj_hidden_dim=32, proj_output_dim=16, queue_size=256,
                       num_classes=10, optimizer=partial(torch.optim.AdamW, lr=3e-3),
                       lr_scheduler=partial(WarmupCosineLR, warmup_epochs=1))
    spy = StateSpy()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=1000)  # only the injected step overflows
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=steps, limit_val_batches=0, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        default_root_dir=tmp_path, callbacks=[spy],
                        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])
    trainer.fit(model, digits)
    return spy


def test_skipped_fp16_step_moves_nothing(tmp_path, digits):
    """The GradScaler skips the overflowing step: weights, EMA target, queue and lr schedule all stay put."""
    spy = _fp16_fit(tmp_path, digits)
    bad_before, bad_after = spy.before[2], spy.after[2]
    assert bad_after["scale"] < bad_before["scale"], "the injected overflow did not make the scaler skip"
    assert _moved(bad_before, bad_after) == {"online": False, "target": False, "queue": False, "lr": False}
    assert bad_after["target_step"] == 3  # the skipped step is consumed, so the next step updates once
    for normal in (1, 3):  # ordinary steps move all four
        assert spy.after[normal]["scale"] == spy.before[normal]["scale"]
        assert _moved(spy.before[normal], spy.after[normal]) == {"online": True, "target": True, "queue": True,
                                                                 "lr": True}


def test_skipped_fp16_step_control_without_skip_detection(tmp_path, digits, monkeypatch):
    """Control: without sslkit's skip detection the same run moves the EMA target, the queue and the lr
    on the skipped step (only the weights stay, thanks to the scaler) -- so the test above can fail."""
    monkeypatch.setattr(StepTracker, "skipped", lambda self, optimizer=None: False)
    spy = _fp16_fit(tmp_path, digits)
    assert spy.after[2]["scale"] < spy.before[2]["scale"]
    assert _moved(spy.before[2], spy.after[2]) == {"online": False, "target": True, "queue": True, "lr": True}


# ---------------------------------------------------------------- 2. a corrupt or truncated last.ckpt
@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A finished 1-epoch run (2 steps) with a step checkpoint per step and last.ckpt; copied per test."""
    root = tmp_path_factory.mktemp("faults") / "one_epoch"
    run_cli("fit", "--config", str(tiny_config(root, epochs=1, batches=2, step_ckpts=True)))
    return root


def _copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _cli(capsys, *args) -> tuple[int, str]:
    """``sslkit <args>`` as a user runs it (one-line errors); (exit code, stderr)."""
    capsys.readouterr()
    try:
        run_cli(*args, short_errors=True)
        code = 0
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_last_ckpt_resumes_from_newest_intact(tmp_path, one_epoch, capsys, damage):
    root = _copy_run(one_epoch, tmp_path / "run")
    last = root / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2] if damage == "truncated" else b"\x80garbage" * 64)
    with pytest.warns(UserWarning, match=r"last\.ckpt is truncated or corrupt \(.+\); resuming from the newest intact "
                                         r"checkpoint .+\.ckpt \(global step 2\)"):
        code, err = _cli(capsys, "fit", "--config", str(tiny_config(root, epochs=2, batches=2, step_ckpts=True)),
                         "--ckpt_path", "last")
    assert code == 0, err
    assert torch.load(root / "steps" / "step=4.ckpt", weights_only=True)["global_step"] == 4  # trained on


def test_corrupt_last_ckpt_without_intact_checkpoint_stops_naming_it(tmp_path, one_epoch, capsys):
    root = _copy_run(one_epoch, tmp_path / "run")
    for ckpt in root.rglob("*.ckpt"):
        ckpt.write_bytes(ckpt.read_bytes()[:4096])  # every checkpoint truncated
    code, err = _cli(capsys, "fit", "--config", str(tiny_config(root, epochs=2, batches=2, step_ckpts=True)),
                     "--ckpt_path", "last")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"cannot resume: {root / 'checkpoints' / 'last.ckpt'} is truncated or corrupt" in lines[0]
    assert "Delete" in lines[0] and "--ckpt_path" in lines[0]


def test_corrupt_last_ckpt_control_lightning_alone(tmp_path, one_epoch, monkeypatch):
    """Control: with Lightning's own resolution of ``last`` the truncated file reaches torch.load (raw error)."""
    import sslkit.cli

    root = _copy_run(one_epoch, tmp_path / "run")
    last = root / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    monkeypatch.setattr(sslkit.cli, "resolve_last_checkpoint", lambda root, callbacks: None)
    with pytest.raises((RuntimeError, OSError)) as raw:  # torch.load's own error (here a failed seek)
        run_cli("fit", "--config", str(tiny_config(root, epochs=2, batches=2, step_ckpts=True)), "--ckpt_path", "last")
    assert "cannot resume" not in str(raw.value) and "truncated or corrupt" not in str(raw.value)


# ---------------------------------------------------------------- 3. full disk / unwritable folder
def _fail_second_last_write(monkeypatch, code: int, naive: bool = False) -> None:
    """The second write of last.ckpt puts half its bytes on disk, then fails with ``code`` (a full disk)."""
    calls = {"n": 0}

    def half_then_fail(path, data):
        with open(path, "wb") as f:
            f.write(bytes(data[: len(data) // 2]))
        raise OSError(code, os.strerror(code), str(path))

    def write(path, data):
        if Path(path).name.lstrip(".").startswith("last.ckpt"):
            calls["n"] += 1
            if calls["n"] == 2:
                return half_then_fail(path, data)
        return original(path, data)

    original = AtomicCheckpointIO._write
    monkeypatch.setattr(AtomicCheckpointIO, "_write", staticmethod(write))
    if naive:  # control: write straight into the target, as a non-atomic writer does
        def naive_save(self, checkpoint, path, storage_options=None):
            import io

            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            write(Path(path), buffer.getbuffer())

        monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", naive_save)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_failed_checkpoint_write_stops_with_message_and_keeps_previous(tmp_path, capsys, monkeypatch, code):
    root = tmp_path / "run"
    _fail_second_last_write(monkeypatch, code)
    code_, err = _cli(capsys, "fit", "--config", str(tiny_config(root, epochs=2, batches=2)))
    assert code_ == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    last = root / "checkpoints" / "last.ckpt"
    assert f"could not write {last}: {os.strerror(code)} ({errno.errorcode[code]})" in lines[0]
    assert "is intact" in lines[0] and "--ckpt_path last" in lines[0]
    assert checkpoint_problem(last) is None  # the previous last.ckpt loads ...
    assert torch.load(last, weights_only=True)["global_step"] == 2  # ... and is the end of epoch 0
    assert not list(last.parent.glob(".*partial*")), "the half-written file was not cleaned up"


def test_failed_checkpoint_write_control_non_atomic_writer(tmp_path, monkeypatch):
    """Control: a writer that writes straight into last.ckpt leaves it truncated, so the test above can fail."""
    root = tmp_path / "run"
    _fail_second_last_write(monkeypatch, errno.ENOSPC, naive=True)
    with pytest.raises(OSError, match="No space left"):
        run_cli("fit", "--config", str(tiny_config(root, epochs=2, batches=2)))
    assert checkpoint_problem(root / "checkpoints" / "last.ckpt") is not None


def test_failed_log_write_stops_with_message(tmp_path, capsys, monkeypatch):
    from lightning.fabric.loggers.csv_logs import _ExperimentWriter

    def full(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.metrics_file_path)

    monkeypatch.setattr(_ExperimentWriter, "save", full)
    code, err = _cli(capsys, "fit", "--config", str(tiny_config(tmp_path / "run", epochs=1, batches=2)))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "could not write" in err and "metrics.csv: No space left on device (ENOSPC)" in err


# ---------------------------------------------------------------- 1. killed at any moment (SIGKILL)
KILL_SEEDS = [int(s) for s in os.environ.get("SSLKIT_KILL_SEEDS", "0,1").split(",")]  # more seeds: docs/reliability.md
KILL_STEPS = 6  # 2 epochs of 3 steps; validation after steps 3 and 6


def _kill_config(root: Path, kill: tuple[str, int] | None = None, **kill_kw) -> Path:
    steps = {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
             "init_args": {"dirpath": str(root / "steps"), "every_n_train_steps": 1, "save_top_k": -1,
                           "filename": "{step}", "save_last": True}}
    extra = [steps]
    if kill is not None:
        extra.append({"class_path": "reliability_helpers.KillAt",
                      "init_args": {"site": kill[0], "step": kill[1], **kill_kw}})
    return tiny_config(root, epochs=2, batches=3, extra_callbacks=extra)


def _child_fit(cfg: Path, *extra: str, expect: int = 0) -> int:
    """``sslkit fit`` in a fresh child process (so no earlier test's process state can touch the arithmetic);
    its return code, checked against ``expect``."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "OMP_NUM_THREADS": "1",
                        "WANDB_MODE": "disabled"}
    cmd = [sys.executable, "-m", "sslkit.cli", "fit", "--config", str(cfg), "--trainer.enable_progress_bar=false",
           "--trainer.enable_model_summary=false", *extra]
    proc = subprocess.run(cmd, cwd=cfg.parent, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == expect, f"expected exit {expect}, got {proc.returncode}: {proc.stderr[-2000:]}"
    return proc.returncode


def _killed_fit(cfg: Path, *extra: str) -> int:
    """``sslkit fit`` in a child process that is SIGKILLed; its return code."""
    return _child_fit(cfg, *extra, expect=-signal.SIGKILL)


def _final_state(root: Path) -> tuple[int, dict[str, torch.Tensor]]:
    ckpt = torch.load(root / "steps" / f"step={KILL_STEPS}.ckpt", weights_only=True)
    probe = ckpt["callbacks"].get("OnlineLinearProbe", {}).get("probe", {})  # the probe exists after a validation
    return ckpt["global_step"], {**ckpt["state_dict"], **{f"probe.{k}": v for k, v in probe.items()}}


def _loadable_lasts(root: Path) -> list[str]:
    """Problems of every last*.ckpt under ``root`` (empty: all load)."""
    return [f"{p}: {checkpoint_problem(p)}" for p in root.rglob("last*.ckpt") if checkpoint_problem(p) is not None]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, torch.Tensor]:
    root = tmp_path_factory.mktemp("kill") / "full"
    _child_fit(_kill_config(root))
    step, state = _final_state(root)
    assert step == KILL_STEPS
    return state


@pytest.mark.slow
@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_sigkill_at_any_moment_resumes_to_the_same_weights(tmp_path, uninterrupted, seed):
    """Three SIGKILLs (inside a step, while a checkpoint is written, during validation; points drawn from the
    seed), each followed by ``--ckpt_path last``: every last.ckpt left behind loads, and the run ends with the
    uninterrupted run's weights (and probe, where the resumed run has validated since; difference 0.0)."""
    root = tmp_path / "run"
    points = kill_points(seed, KILL_STEPS, epoch_ends=(3, 6))
    for i, point in enumerate(points):
        _killed_fit(_kill_config(root, point), *(["--ckpt_path", "last"] if i else []))
        assert _loadable_lasts(root) == [], f"after the kill at {point}"
    _child_fit(_kill_config(root), "--ckpt_path", "last")
    step, state = _final_state(root)
    # the probe is refitted from the frozen bank at each validation, so it is a function of the weights; a run
    # resumed after a kill during validation holds none until its next validation: compare it where both have it
    assert step == KILL_STEPS and {k for k in uninterrupted if not k.startswith("probe.")} <= state.keys()
    state = {k: v for k, v in state.items() if k in uninterrupted}
    lasts = {str(p): torch.load(p, weights_only=True)["global_step"] for p in root.rglob("last*.ckpt")}
    assert set(lasts.values()) == {KILL_STEPS}, f"kills at {points}: the run did not end where it should: {lasts}"
    diff = max(float((state[k].float() - uninterrupted[k].float()).abs().max()) for k in state)
    assert diff == 0.0, f"kills at {points}: max weight difference {diff}"
    assert not list(root.rglob(".*partial*")), "a half-written file was left behind"


@pytest.mark.slow
def test_sigkill_during_a_non_atomic_write_control(tmp_path):
    """Control: the same kill inside the write of last.ckpt with a writer that writes straight into the
    file leaves a last.ckpt that does not load, so the check above can fail."""
    root = tmp_path / "run"
    _killed_fit(_kill_config(root, ("ckpt_write", 2), naive_writer=True, file="last.ckpt"))
    assert _loadable_lasts(root) != []


# ---------------------------------------------------------------- 4. a dead rank under DDP
EXIT_DEADLINE_S = 120  # the whole job, start-up included; a hang would wait for gloo's 30-minute timeout


def _ddp_fail(base: Path, report: bool = True) -> tuple[int, str, float]:
    """A 2-process gloo run whose rank 1 raises at step 2: (exit code, stderr, seconds from the failure to exit)."""
    stamp = base / "failed_at"
    fail = {"class_path": "reliability_helpers.FailOnRank",
            "init_args": {"rank": 1, "step": 2, "stamp": str(stamp), "report": report}}
    cfg = tiny_config(base / "run", epochs=1, batches=6, extra_callbacks=[fail])
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "OMP_NUM_THREADS": "1",
                        "WANDB_MODE": "disabled"}
    cmd = [sys.executable, "-m", "sslkit.cli", "fit", "--config", str(cfg), "--trainer.devices=2",
           "--trainer.strategy=ddp", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    proc = subprocess.Popen(cmd, cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=EXIT_DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"a process was still running {EXIT_DEADLINE_S} s after start: the job hangs on a dead rank")
    exited = time.time()
    return proc.returncode, err, exited - float(stamp.read_text())


@pytest.mark.ddp
@pytest.mark.slow
def test_dead_rank_exits_fast_non_zero_naming_the_rank(tmp_path):
    code, err, to_exit = _ddp_fail(tmp_path)
    assert code != 0
    assert ("sslkit: error: process rank 1 of 2 failed at global step 2 (epoch 0): RuntimeError: simulated failure "
            "on rank 1 at step 2") in err, err[-3000:]
    assert "sslkit: error: process rank 0 of 2 stopped at global step 2: it lost the connection" in err, err[-3000:]
    assert to_exit < 60, f"{to_exit:.1f} s from the failure to the exit of every process"
    print(f"dead rank: exit code {code}, every process gone {to_exit:.1f} s after the failure")


# ---------------------------------------------------------------- 7. long runs hold
LONG_EPOCHS, WARM_UP = 22, 4


def _long_run(root: Path, epochs: int, leak: bool = False) -> None:
    """The digits SimCLR recipe (every default callback, probe, kNN, summary) for ``epochs`` short epochs."""
    run_cli("fit", "--config", str(RECIPES / "pretrain/digits/simclr.yaml"), f"--trainer.default_root_dir={root}",
            f"--trainer.max_epochs={epochs}", "--trainer.limit_train_batches=2", "--trainer.num_sanity_val_steps=0",
            "--trainer.accelerator=cpu", "--model.init_args.backbone_kwargs={widths: [8, 16]}",
            "--model.init_args.proj_hidden_dim=32", "--model.init_args.proj_output_dim=16",
            "--trainer.callbacks+=" + json.dumps({"class_path": "reliability_helpers.ResourceProbe",
                                                  "init_args": {"leak": leak}}))


def _resources(root: Path, epochs: int, leak: bool = False) -> ResourceProbe:
    ResourceProbe.last = None
    _long_run(root, epochs, leak)
    probe = ResourceProbe.last
    assert probe is not None and len(probe.rss) == epochs
    return probe


def _check_flat(probe: ResourceProbe) -> dict[str, float]:
    rss = probe.rss[WARM_UP:]
    growth = (max(rss) - rss[0]) / rss[0]
    assert growth <= 0.05, f"RSS grew {growth:.1%} after warm-up: {[r >> 20 for r in probe.rss]} MiB"
    assert len(set(probe.fds[WARM_UP:])) == 1, f"open files changed: {probe.fds}"
    for name in probe.held[WARM_UP]:
        sizes = [h[name] for h in probe.held[WARM_UP:]]
        assert len(set(sizes)) == 1, f"{name} holds a growing amount of tensor memory: {sizes} bytes"
    return {"rss_mib": rss[0] / 2**20, "growth": growth, "fds": probe.fds[-1]}


@pytest.mark.slow
def test_long_run_holds_memory_files_and_state(tmp_path):
    probe = _resources(tmp_path / "run", LONG_EPOCHS)
    figures = _check_flat(probe)
    assert probe.held[-1]["KNNMonitor"] >= 0 and probe.held[-1]["OnlineLinearProbe"] > 0
    print(f"{LONG_EPOCHS} epochs: RSS {figures['rss_mib']:.0f} MiB after warm-up, growth {figures['growth']:+.2%}; "
          f"open files {figures['fds']}; held bytes {probe.held[-1]}")


@pytest.mark.slow
def test_long_run_control_catches_a_leak(tmp_path):
    """Control: 3% of the RSS, one open file and a growing list per epoch (8 epochs) fail every check above."""
    probe = _resources(tmp_path / "run", 8, leak=True)
    with pytest.raises(AssertionError, match="RSS grew"):
        _check_flat(probe)
    probe.rss = [probe.rss[0]] * len(probe.rss)
    with pytest.raises(AssertionError, match="open files changed"):
        _check_flat(probe)
    probe.fds = [probe.fds[0]] * len(probe.fds)
    with pytest.raises(AssertionError, match="leak holds a growing amount"):
        _check_flat(probe)


# ---------------------------------------------------------------- 6. bad data
def test_non_utf8_corpus_file_stops_naming_it(tmp_path):
    from sslkit.data.text import read_documents

    (tmp_path / "a.txt").write_text("first document\n\nsecond document\n")
    (tmp_path / "b.txt").write_bytes("caf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(BadDataError, match=rf"{tmp_path / 'b.txt'} is not UTF-8 text: byte 0xe9 at offset 3 \(line 1\)"
                                           r".*Re-encode"):
        read_documents(tmp_path)


def test_empty_corpus_file_stops_naming_it(tmp_path):
    from sslkit.data.text import read_documents

    (tmp_path / "a.txt").write_text("first document\n\nsecond document\n")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(BadDataError, match=rf"{tmp_path / 'empty.jsonl'} is empty"):
        read_documents(tmp_path)


def test_bad_corpus_controls(tmp_path, monkeypatch):
    """Control: without the checks an empty file is skipped silently and a latin-1 file fails without its name."""
    import sslkit.data.text.sources as text

    monkeypatch.setattr(text, "read_utf8_text", lambda f: Path(f).read_text(encoding="utf-8"))
    (tmp_path / "a.txt").write_text("first document\n\nsecond document\n")
    (tmp_path / "empty.txt").write_text("")
    assert len(text.read_documents(tmp_path)) == 2  # silently
    (tmp_path / "b.txt").write_bytes("caf\u00e9\n".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError) as raw:
        text.read_documents(tmp_path)
    assert "b.txt" not in str(raw.value)


def test_empty_label_cell_in_csv_stops_naming_the_row(tmp_path):
    from sslkit.data.text import read_labelled

    path = tmp_path / "train.csv"
    path.write_text("text,label\ngood row,pos\nanother,neg\nno label here,\n")
    with pytest.raises(BadDataError, match=rf"{path}: data row 3 \(header excluded\) has an empty label"):
        read_labelled(path)


class _Tensors(DigitsDataModule):
    """Digits whose training split has been tampered with: one label out of range, or NaN pixels."""

    def __init__(self, fault: str, **kwargs) -> None:
        super().__init__(load_size=16, views=[ViewAugment(size=16)], **kwargs)
        self.fault = fault

    def build_splits(self):
        splits = super().build_splits()
        ds, labels = splits["train"]
        x, y = (t.clone() for t in ds.tensors)
        labels = labels.copy()
        if self.fault == "label":
            y[17], labels[17] = 12, 12
        else:
            x = x.float() / 255
            x[40, 0, 3, 3] = float("nan")
        splits["train"] = (TensorDataset(x, y), labels)
        return splits


@pytest.mark.parametrize("fault, message", [
    ("label", r"train split: row 17 has label 12, outside num_classes=10 \(labels are 0..9, -1 = unlabelled; 1 rows"),
    ("nan", r"train split: image 40 has NaN/Inf pixels \(1 images in all\)"),
])
def test_bad_tensor_split_stops_naming_the_row(fault, message):
    with pytest.raises(BadDataError, match=message):
        _Tensors(fault).splits()


def test_bad_tensor_split_control(monkeypatch):
    """Control: without the check the label reaches the probe's loss as an obscure error, the NaN silently."""
    import sslkit.data.base as base

    monkeypatch.setattr(base, "check_split", lambda *a: None)
    x, labels = _Tensors("label").splits()["train"]
    with pytest.raises(IndexError, match="Target 12 is out of bounds"):
        torch.nn.functional.cross_entropy(torch.zeros(1, 10), torch.tensor([int(labels[17])]))
    x, _ = _Tensors("nan").splits()["train"]
    assert torch.isnan(x.tensors[0]).any()
