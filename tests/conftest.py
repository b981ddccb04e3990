"""Shared fixtures: tiny configs, the digits data, an in-process CLI runner."""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import torch

# one intra-op thread: the suite's models are tiny, and on the 2-core machine (shared with DataLoader workers and
# DDP test processes) a second thread made steps up to 10x slower (measured on a loaded machine: a tiny-ViT step
# 3.4 s with 2 threads, 0.3 s with 1)
torch.set_num_threads(1)
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"


def tested_versions() -> dict[str, str]:
    """Python and the installed version of every package pyproject.toml declares (runtime and dev)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    out = {"python": platform.python_version()}
    for name in ["sslkit"] + [re.match(r"[A-Za-z0-9._-]+", r).group(0) for r in requirements]:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def pytest_sessionstart(session):
    """Print the versions the tests run with, first thing (a report header would be hidden by ``-q``)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("versions.json: " + json.dumps(tested_versions()))


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


def run_cli(*args: str, short_errors: bool = False) -> None:
    """Run ``sslkit <args>`` in this process (no 15 s import per call); raises SystemExit on config errors.

    By default the original exception propagates (``SSLKIT_DEBUG=1``), so tests can match it; with
    ``short_errors=True`` the CLI prints its one-line message and exits with status 2, as for a user.
    """
    from sslkit.cli import main

    saved = os.environ.get("SSLKIT_DEBUG")
    if not short_errors:
        os.environ["SSLKIT_DEBUG"] = "1"
    try:
        main(list(args) + ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"])
    finally:
        if saved is None:
            os.environ.pop("SSLKIT_DEBUG", None)
        else:
            os.environ["SSLKIT_DEBUG"] = saved


def read_metrics(root: Path) -> list[dict[str, str]]:
    """Rows of the single ``metrics.csv`` under ``root``."""
    files = sorted(Path(root).rglob("metrics.csv"))
    assert files, f"no metrics.csv under {root}"
    with open(files[-1]) as f:
        return list(csv.DictReader(f))


def column(rows: list[dict[str, str]], name: str) -> list[float]:
    """The non-empty values of one metrics.csv column, in order."""
    return [float(r[name]) for r in rows if r.get(name)]


@pytest.fixture(scope="session")
def digits():
    """The digits DataModule at 16 px with SimCLR views, split once per session."""
    from sslkit.data import DigitsDataModule
    from sslkit.transforms import ViewAugment

    dm = DigitsDataModule(load_size=16, batch_size=64, views=[ViewAugment(size=16, num_views=2, crop_scale=(0.4, 1.0))])
    dm.splits()
    return dm


@pytest.fixture(scope="session")
def simclr_ckpt(tmp_path_factory) -> Path:
    """A SimCLR checkpoint on 16 px digits (tiny_cnn, 8 epochs), pretrained once per session (slow tests only)."""
    root = tmp_path_factory.mktemp("simclr")
    run_cli("fit", "--config", str(RECIPES / "pretrain/digits/simclr.yaml"), f"--trainer.default_root_dir={root}",
            "--trainer.max_epochs=8", "--trainer.callbacks=[]", "--trainer.logger=false", "--wandb.mode=disabled")
    return root / "checkpoints" / "last.ckpt"


def blobs(n: int = 300, d: int = 6, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs with unequal feature scales (standardisation matters): the linear-evaluation tests' data."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = 2 * torch.randn(classes, d, generator=g)
    scale = torch.logspace(-1, 1, d)  # unequal feature scales: standardisation matters
    return (centres[y] + torch.randn(n, d, generator=g)) * scale + 3.0, y
