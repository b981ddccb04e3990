"""OnlineLinearProbe: the logistic-regression fit, the callback's wiring, and faithfulness on digits recipes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
import yaml

from conftest import RECIPES, run_cli
from conftest import blobs as _blobs
from sslkit.data.base import BANK_LOADER, VAL_LOADER


def test_probe_validates_arguments():
    from sslkit.callbacks import OnlineLinearProbe

    with pytest.raises(ValueError, match="l2 > 0"):
        OnlineLinearProbe(l2=0)


# ---------------------------------------------------------------------------------------------- callback wiring
class _Module:
    """The slice of a LightningModule the callback touches."""

    def __init__(self, num_classes: int, num_features: int) -> None:
        self.num_classes, self.num_features = num_classes, num_features
        self.device, self.logged = torch.device("cpu"), {}

    def log(self, name: str, value, **kwargs) -> None:
        self.logged[name] = float(value)


def _validate(cb, module, bank, val, batch: int = 64) -> None:
    trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True, world_size=1)
    cb.setup(trainer, module, "fit")
    cb.on_validation_epoch_start(trainer, module)
    for idx, (x, y) in ((BANK_LOADER, bank), (VAL_LOADER, val)):
        for i in range(0, len(y), batch):
            out = {"features": x[i:i + batch].to(torch.bfloat16 if idx == VAL_LOADER else torch.float32),
                   "labels": y[i:i + batch]}
            cb.on_validation_batch_end(trainer, module, out, None, i // batch, idx)
    cb.on_validation_epoch_end(trainer, module)


def test_callback_fits_the_capped_labelled_bank_and_scores_val():
    from sslkit.callbacks import OnlineLinearProbe
    from sslkit.metrics.linear import fit_logistic

    x, y = _blobs(n=400)
    bank_x, bank_y = x[:300].clone(), y[:300].clone()
    bank_y[::7] = -1  # unlabelled samples are skipped
    bank_x[250:], bank_y[250:] = -bank_x[250:], (bank_y[250:] + 1) % 3  # past the cap: poison that must not be used
    val = (x[300:], y[300:])
    module = _Module(3, x.shape[1])
    cb = OnlineLinearProbe(max_bank=200)
    _validate(cb, module, (bank_x, bank_y), val)

    keep = bank_y >= 0
    ref, ref_loss = fit_logistic(bank_x[keep][:200], bank_y[keep][:200], 3)  # the first 200 labelled ones
    torch.testing.assert_close(cb.probe.weight, ref.weight)
    expected = (ref(val[0].to(torch.bfloat16).float()).argmax(1) == val[1]).float().mean().item()
    assert module.logged["probe/linear_acc"] == pytest.approx(expected) and expected > 0.8
    assert module.logged["probe/train_loss"] == pytest.approx(ref_loss)

    restored = OnlineLinearProbe()
    restored.load_state_dict(cb.state_dict())  # a plain nn.Linear on raw features in checkpoints
    torch.testing.assert_close(restored.probe(val[0]), cb.probe(val[0]))
    assert set(cb.state_dict()["probe"]) == {"weight", "bias"}


def test_callback_refits_from_scratch_each_validation():
    """No state carries over: the reading depends only on this validation's features (exact resume needs this)."""
    from sslkit.callbacks import OnlineLinearProbe

    x, y = _blobs(n=400)
    module = _Module(3, x.shape[1])
    fresh, reused = OnlineLinearProbe(), OnlineLinearProbe()
    _validate(reused, module, (-x[:300], y[:300]), (x[300:], y[300:]))  # an earlier, different validation
    _validate(reused, module, (x[:300], y[:300]), (x[300:], y[300:]))
    _validate(fresh, module, (x[:300], y[:300]), (x[300:], y[300:]))
    torch.testing.assert_close(reused.probe.weight, fresh.probe.weight, rtol=0, atol=0)


def test_callback_draws_no_random_numbers():
    """A validation must not shift the training run's random stream (augmentations after it stay the same)."""
    from sslkit.callbacks import OnlineLinearProbe

    x, y = _blobs(n=400)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    cb = OnlineLinearProbe()
    _validate(cb, _Module(3, x.shape[1]), (x[:300], y[:300]), (x[300:], y[300:]))
    cb.load_state_dict(cb.state_dict())
    assert torch.equal(torch.get_rng_state(), before)


def test_callback_is_off_without_classes():
    from sslkit.callbacks import OnlineLinearProbe

    x, y = _blobs()
    module = _Module(0, x.shape[1])
    cb = OnlineLinearProbe()
    with pytest.warns(UserWarning, match="num_classes=0"):
        _validate(cb, module, (x, y), (x, y))
    assert module.logged == {} and cb.probe is None and cb.state_dict() == {}


# ---------------------------------------------------------------------------------------------- faithfulness
class OfflineRecorder(L.Callback):
    """At each validation: the logged probe/linear_acc and a scikit-learn logistic regression on the same weights."""

    def __init__(self, out: str) -> None:
        self.out, self.rows = Path(out), []

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        from sslkit.metrics.linear import linear_eval
        from sslkit.utils.features import extract_features

        dm = trainer.datamodule
        pl_module.eval()  # validation left it so; Lightning restores train mode afterwards
        train = extract_features(pl_module.embed, dm.labelled_dataset("train"))  # the bank (1257 < bank_size)
        val = extract_features(pl_module.embed, dm.labelled_dataset("val"))
        self.rows.append({"epoch": trainer.current_epoch + 1, "offline": linear_eval(train, val),
                          "probe": float(trainer.callback_metrics["probe/linear_acc"])})
        self.out.write_text(json.dumps(self.rows))


def _fit_recipe(name: str, root: Path, epochs: int = 2) -> list[dict]:
    cfg = yaml.safe_load((RECIPES / "pretrain/digits" / f"{name}.yaml").read_text())
    out = root / "readings.json"
    cfg["trainer"]["callbacks"] = [c for c in cfg["trainer"]["callbacks"] if "LinearEvalSummary" not in c["class_path"]]
    cfg["trainer"]["callbacks"].append({"class_path": f"{__name__}.OfflineRecorder", "init_args": {"out": str(out)}})
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run_cli("fit", "--config", str(path), f"--trainer.max_epochs={epochs}", f"--trainer.default_root_dir={root}",
            "--wandb.mode=disabled")
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["simclr", "mae"])
def test_probe_reads_like_the_offline_probe_on_digits(name: str, tmp_path: Path) -> None:
    """The issue-12 contract: from the second validation on, within 5 points of the offline logistic regression."""
    rows = _fit_recipe(name, tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[-1]["offline"] > 0.5  # real features: agreement is not chance against chance
    for r in rows[1:]:
        assert abs(r["probe"] - r["offline"]) <= 0.05, (name, rows)
