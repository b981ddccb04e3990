"""A real 2-process DDP pretraining run (CPU, gloo) through the ``sslkit`` command.

One run of the digits SimCLR recipe on two processes (``tests/utils/ddp_fit.py``
records, per rank, the files written and the metrics seen) is checked for:

* the online metrics (``knn/acc``, ``probe/linear_acc``, ``collapse/*``) are
  identical on both ranks and equal to a single-process evaluation of the saved
  weights on the whole bank and validation set;
* evaluation sets are split without repeated samples, so the ranks get uneven
  shards and an uneven number of batches (bank of 1,257 images in batches of
  628: 629 images in 2 batches on rank 0, 628 in 1 batch on rank 1), and the
  run neither hangs (the subprocess has a deadline) nor mis-counts;
* the training shards are equal in size and together cover the training set;
* a run resumed from a mid-epoch checkpoint ends with the same weights and
  metrics on every rank as the uninterrupted run;
* only rank 0 writes files: rank 1 creates, opens for writing, moves or
  removes nothing under the run directory, while rank 0 writes the checkpoint,
  ``summary.json``, ``versions.json``, the resolved config and the metrics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import RECIPES, ROOT

ENTRY = ROOT / "tests" / "utils" / "ddp_fit.py"
EVAL_BATCH = 628  # the 1,257-image bank splits 629 / 628: two batches on rank 0, one on rank 1


def _fit(base: Path, name: str, *extra: str) -> tuple[Path, list[dict]]:
    """Run the digits SimCLR recipe (1 epoch, 4 steps per rank) on 2 processes; the run folder and per-rank records."""
    root, record = base / name, base / f"{name}-record"
    step_ckpts = {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                  "init_args": {"dirpath": str(root / "checkpoints"), "every_n_train_steps": 2, "save_top_k": -1,
                                "save_last": True}}
    cmd = [sys.executable, str(ENTRY), str(record), str(root), "fit",
           "--config", str(RECIPES / "pretrain/digits/simclr.yaml"), f"--trainer.default_root_dir={root}",
           "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.max_epochs=1",
           f"--data.init_args.eval_batch_size={EVAL_BATCH}", "--wandb.mode=offline",
           f"--trainer.callbacks+={json.dumps(step_ckpts)}",
           "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", *extra]
    # a fresh launch: not attached to a W&B service that an in-process test of this session started
    # nor does it inherit a launcher's variables (LOCAL_RANK=0 would make rank 0 wait for a rank nobody starts)
    launch = {"WANDB_SERVICE", "LOCAL_RANK", "NODE_RANK", "GLOBAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}
    env = {k: v for k, v in os.environ.items() if k not in launch} | {"OMP_NUM_THREADS": "1", "WANDB_SILENT": "true"}
    try:
        proc = subprocess.run(cmd, cwd=base, env=env, capture_output=True, text=True, timeout=480)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"2-process run did not finish in {e.timeout} s (a rank is waiting on a collective?)")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root, [json.loads((record / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The uninterrupted run (checkpoints at steps 2 and 4)."""
    return _fit(tmp_path_factory.mktemp("ddp_fit"), "run")


@pytest.fixture(scope="module")
def ddp_resumed(ddp_run) -> tuple[Path, list[dict]]:
    """A run resumed from the uninterrupted run's mid-epoch checkpoint (step 2 of 4)."""
    root, _ = ddp_run
    return _fit(root.parent, "resumed", f"--ckpt_path={root / 'checkpoints' / 'epoch=0-step=2.ckpt'}")


def _digits_eval_sets():
    from sslkit.data import DigitsDataModule
    from sslkit.transforms import ViewAugment

    dm = DigitsDataModule(load_size=16, views=[ViewAugment(size=16)])
    return dm.labelled_dataset("train"), dm.labelled_dataset("val"), len(dm.splits()["train"][1])


@pytest.mark.ddp
@pytest.mark.slow
def test_metrics_are_synchronised_and_match_one_process(ddp_run) -> None:
    from sslkit.metrics.linear import fit_logistic
    from sslkit.metrics import KNNAccuracy
    from sslkit.metrics.collapse import embedding_std
    from sslkit.methods import load_method
    from sslkit.utils.features import extract_features

    root, ranks = ddp_run
    names = ("knn/acc", "probe/linear_acc", "collapse/std", "collapse/rank")
    for name in names:
        assert ranks[0]["metrics"][name] == ranks[1]["metrics"][name], name  # bit-identical on both ranks

    ckpt_path = root / "checkpoints" / "last.ckpt"
    model = load_method(ckpt_path)  # the weights every rank evaluated at the last validation
    bank, val, _ = _digits_eval_sets()
    bank_x, bank_y = extract_features(model.embed, bank)
    val_x, val_y = extract_features(model.embed, val)
    one = 1 / len(val_y)  # one validation image; batch composition may move a float by an ulp, never a sync bug

    knn = KNNAccuracy(num_classes=10, k=20, temperature=0.07)
    knn.update(bank_x, bank_y, bank=True)
    knn.update(val_x, val_y)
    assert abs(ranks[0]["metrics"]["knn/acc"] - float(knn.compute())) <= one + 1e-6
    assert ranks[0]["metrics"]["knn/acc"] > 0.5  # far above chance (0.1): the bank was the whole training set

    probe, loss = fit_logistic(bank_x, bank_y, 10)  # the online probe refits on the gathered bank at each validation
    probe_acc = float((probe(val_x).argmax(1) == val_y).float().mean())
    assert abs(ranks[0]["metrics"]["probe/linear_acc"] - probe_acc) <= one + 1e-6
    assert probe_acc > 0.5
    assert ranks[0]["metrics"]["probe/train_loss"] == pytest.approx(loss, rel=1e-3)  # fitted on the whole bank

    std = float(embedding_std(val_x - val_x.mean(0)))
    assert ranks[0]["metrics"]["collapse/std"] == pytest.approx(std, rel=1e-4)


@pytest.mark.ddp
@pytest.mark.slow
def test_shards_are_uneven_for_evaluation_and_even_for_training(ddp_run) -> None:
    _, ranks = ddp_run
    bank, val, n_train = _digits_eval_sets()
    assert [r["eval_samples"][0] for r in ranks] == [629, 628]  # no repeated sample pads the bank
    assert sum(r["eval_samples"][1] for r in ranks) == len(val)
    assert ranks[0]["global_step"] == ranks[1]["global_step"] == n_train // 2 // 128  # 629 per rank, drop_last

    shards = [r["train_shard"] for r in ranks]
    assert len(shards[0]) == len(shards[1]) == (n_train + 1) // 2
    assert set(shards[0]) | set(shards[1]) == set(range(n_train))  # one index repeated to even the shards


@pytest.mark.ddp
@pytest.mark.slow
def test_only_rank_zero_writes_files(ddp_run) -> None:
    root, ranks = ddp_run
    assert ranks[1]["writes"] == []
    written = set(ranks[0]["writes"])
    moved_in = {w.split(":", 1)[1] for w in written if w.startswith("os.rename:")}
    assert "checkpoints/last.ckpt" in moved_in  # atomic save: written elsewhere, renamed into place
    for name in ("summary.json", "checkpoints/versions.json", "csv/version_0/metrics.csv", "csv/version_0/config.yaml"):
        assert name in written, name
    assert any(w.startswith("os.mkdir:wandb/offline-run-") for w in written)
    assert (root / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.ddp
@pytest.mark.slow
def test_mid_epoch_resume_under_ddp_is_exact(ddp_run, ddp_resumed) -> None:
    """Each rank's sampler resumes its own shard at the saved batch: same weights and metrics as uninterrupted."""
    (root, ranks), (resumed_root, resumed_ranks) = ddp_run, ddp_resumed
    full = torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    resumed = torch.load(resumed_root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert resumed["global_step"] == full["global_step"] == 4
    for name, value in full["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][name], value, rtol=0, atol=1e-6, msg=name)
    for r in range(2):
        for name in ("train/loss", "knn/acc", "probe/linear_acc", "collapse/std"):
            assert resumed_ranks[r]["metrics"][name] == pytest.approx(ranks[r]["metrics"][name], abs=1e-6), (r, name)
