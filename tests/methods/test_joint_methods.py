"""Short CPU fits of the joint-embedding methods on digits (16 px), through the CLI in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import RECIPES, column, read_metrics, run_cli
from sslkit.methods import BarlowTwins, SimSiam, SwAV, VICReg
from sslkit.transforms import ViewAugment

JOINT = {"simsiam": SimSiam, "barlow_twins": BarlowTwins, "vicreg": VICReg, "swav": SwAV}


def _fit(name: str, root: Path, *extra: str) -> list[dict[str, str]]:
    run_cli("fit", "--config", str(RECIPES / "pretrain/digits" / f"{name}.yaml"), "--trainer.max_epochs=3",
            "--trainer.limit_train_batches=8", "--trainer.log_every_n_steps=1", f"--trainer.default_root_dir={root}",
            "--wandb.mode=disabled", "--data.init_args.batch_size=64",
            "--model.init_args.backbone_kwargs={widths: [16, 32, 64]}", *extra)
    return read_metrics(root)


@pytest.mark.parametrize("name", list(JOINT))
def test_short_fit_learns(name: str, tmp_path: Path) -> None:
    rows = _fit(name, tmp_path)
    losses = column(rows, "train/loss_step") or column(rows, "train/loss")
    assert len(losses) >= 20 and all(map(torch.isfinite, torch.tensor(losses)))
    assert sum(losses[-6:]) / 6 < sum(losses[:6]) / 6, f"{name} loss did not decrease: {losses}"
    acc = column(rows, "probe/linear_acc")
    # 24 steps: the online probe lags (it learns on train-mode BN features while the running statistics
    # warm up), so it only has to beat chance (0.1); kNN and the summary's logistic regression show the learning
    assert acc and max(acc) > 0.12, f"{name} probe accuracy {acc} is not above chance (0.1)"
    assert column(rows, "knn/acc")[-1] > 0.5
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["linear_acc_ssl"] > 0.5
    if name == "simsiam":
        _assert_no_collapse(tmp_path / "checkpoints" / "last.ckpt")


def _assert_no_collapse(ckpt: Path) -> None:
    from sslkit.data import DigitsDataModule

    model = SimSiam.load_from_checkpoint(ckpt).eval()
    val = DigitsDataModule(load_size=16, views=[ViewAugment(size=16)]).labelled_dataset("val")
    x = torch.stack([val[i][0] for i in range(len(val))])
    with torch.no_grad():
        z = F.normalize(model.projector(model.embed(x)), dim=1)
    # SimSiam paper (Fig. 2): std of l2-normalised outputs is ~1/sqrt(d) without collapse and 0 with it;
    # after 24 steps (eval-mode BN statistics still warming up) it measured 0.025 = 0.4 / sqrt(256)
    assert z.std(0).mean().item() > 0.25 / z.shape[1] ** 0.5


def _swav(**kw) -> SwAV:
    torch.manual_seed(0)
    return SwAV(backbone_kwargs={"widths": [8, 16]}, proj_hidden_dim=32, proj_output_dim=16, num_prototypes=10, **kw)


def test_swav_multicrop_step_keeps_bn_stats_of_global_crops_and_unit_prototypes():
    import copy

    model = _swav()
    with torch.no_grad():
        model.prototypes.layer.weight.mul_(3.0)
    other = copy.deepcopy(model)
    g = [torch.rand(6, 3, 16, 16) for _ in range(2)]
    local = [torch.rand(6, 3, 8, 8) for _ in range(3)]
    out = model.training_loss(g + local)
    loss, feats = out["loss"], out["features"]
    assert torch.isfinite(loss) and feats.shape == (6, 16)
    torch.testing.assert_close(model.prototypes.layer.weight.norm(dim=1), torch.ones(10))
    other.training_loss(g)  # the same global crops without the local ones
    bn = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    bn_other = [m for m in other.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for a, b in zip(bn, bn_other):
        torch.testing.assert_close(a.running_mean, b.running_mean)
        torch.testing.assert_close(a.running_var, b.running_var)


def test_swav_prototypes_frozen_only_in_first_epochs():
    model = _swav(freeze_prototypes_epochs=1)
    model.training_loss([torch.rand(6, 3, 16, 16) for _ in range(2)])["loss"].backward()
    assert model.prototypes.layer.weight.grad is not None
    model.on_after_backward()  # epoch 0 < 1: frozen
    assert model.prototypes.layer.weight.grad is None
    unfrozen = _swav(freeze_prototypes_epochs=0)
    unfrozen.training_loss([torch.rand(6, 3, 16, 16) for _ in range(2)])["loss"].backward()
    unfrozen.on_after_backward()
    assert unfrozen.prototypes.layer.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["simsiam", "barlow_twins", "vicreg"])
def test_two_view_methods_reject_other_view_counts(name: str) -> None:
    model = JOINT[name](backbone_kwargs={"widths": [8]}, proj_hidden_dim=16, proj_output_dim=16)
    with pytest.raises(ValueError, match="exactly 2 view"):
        model.check_views([torch.rand(4, 3, 8, 8)] * 3)
