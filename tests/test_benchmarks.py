"""The benchmark scripts run end to end on tiny settings (the real runs are in the README and gpu_check.sh)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_throughput_prints_every_column(capsys):
    pytest.importorskip("kornia")
    rows = _script("throughput").main([
        "--device", "cpu", "--backbone", "tiny_cnn", "--backbone-kwargs", '{"widths": [4]}', "--size", "8",
        "--batch-size", "8", "--steps", "1", "--warmup", "1", "--num-workers", "0"])
    (row,) = rows
    assert set(row["rates"]) == {"compute", "device", "fit", "worker", "peer", "aug_sslkit", "aug_kornia",
                                 "aug_per_sample"}
    assert all(r > 0 and math.isfinite(r) for r in row["rates"].values()) and row["finite_loss"]
    assert row["flops_per_image"] > 0 and row["mfu"] is None  # CPU: FLOP/s only
    assert set(row["efficiency"]) == {"device", "fit", "worker", "peer"}
    # the fit column is sslkit fit itself: the ratio is of the two measured rates
    assert row["fit_over_device"] == pytest.approx(row["rates"]["fit"] / row["rates"]["device"])
    out = capsys.readouterr().out
    assert "| backbone |" in out and "aug kornia" in out and "eff. device" in out and "fit / device" in out


def test_recipe_smoke_writes_cifar_the_datamodule_reads(tmp_path: Path):
    from sslkit.data import CIFAR10DataModule

    root = _script("recipe_smoke").write_cifar10(tmp_path, train_images=200, test_images=20)
    dm = CIFAR10DataModule(root=str(root), batch_size=8)
    assert [len(dm.splits()[s][1]) for s in ("train", "val", "test")] == [180, 20, 20]
