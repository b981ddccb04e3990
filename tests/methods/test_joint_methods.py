"""Short CPU fits of the joint-embedding methods on digits (16 px), through the CLI in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import RECIPES, column, read_metrics, run_cli
from sslkit.transforms import ViewAugment
from sslkit.methods import METHODS, BarlowTwins, SimSiam, SwAV, VICReg

JOINT = {"simsiam": SimSiam, "barlow_twins": BarlowTwins, "vicreg": VICReg, "swav": SwAV}


def _fit(name: str, root: Path, *extra: str) -> list[dict[str, str]]:
    run_cli("fit", "--config", str(RECIPES / "pretrain/digits" / f"{name}.yaml"), "--trainer.max_epochs=3",
            "--trainer.limit_train_batches=8", "--trainer.log_every_n_steps=1", f"--trainer.default_root_dir={root}",
            "--wandb.mode=disabled", "--data.init_args.batch_size=64",
            "--model.init_args.backbone_kwargs={widths: [16, 32, 64]}", *extra)
    return read_metrics(root)


@pytest.mark.parametrize("name", list(JOINT))
def test_registered(name: str) -> None:
    assert METHODS[name] is JOINT[name]


@pytest.mark.parametrize("name", list(JOINT))
def test_short_fit_learns(name: str, tmp_path: Path) -> None:
    rows = _fit(name, tmp_path)
    losses = column(rows, "train/loss_step") or column(rows, "train/loss")
    assert len(losses) >= 20 and all(map(torch.isfinite, torch.tensor(losses)))
    assert sum(losses[-6:]) / 6 < sum(losses[:6]) / 6, f"{name} loss did not decrease: {losses}"
    acc = column(rows, "probe/linear_acc")
    assert acc and acc[-1] > 0.1 + 0.15, f"{name} probe accuracy {acc} is not well above chance"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["linear_acc_ssl"] > 0.2
    if name == "simsiam":
        _assert_no_collapse(tmp_path / "checkpoints" / "last.ckpt")


def _assert_no_collapse(ckpt: Path) -> None:
    from sslkit.data import DigitsDataModule

    model = SimSiam.load_from_checkpoint(ckpt).eval()
    val = DigitsDataModule(load_size=16, views=[ViewAugment(size=16)]).labelled_dataset("val")
    x = torch.stack([val[i][0] for i in range(len(val))])
    with torch.no_grad():
        z = F.normalize(model.projector(model.embed(x)), dim=1)
    # SimSiam paper (Fig. 2): std of l2-normalised outputs is ~1/sqrt(d) without collapse and 0 with it
    assert z.std(0).mean().item() > 0.5 / z.shape[1] ** 0.5
