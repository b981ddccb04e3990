"""Exact resume and seed reproducibility of a tiny SimCLR run on digits (deterministic CPU)."""

from __future__ import annotations

import math
import shutil

import pytest
import torch
from conftest import run_cli
from reliability_helpers import metric_table, tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]  # 8 tiny CLI runs, ~3 min on 2 busy cores


def _fit(cfg, *extra):
    run_cli("fit", "--config", str(cfg), *extra)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted run (6 steps over 2 epochs) and a run interrupted before step 5."""
    base = tmp_path_factory.mktemp("resume")
    full = base / "full"
    _fit(tiny_config(full, step_ckpts=True))
    cut = base / "cut"
    with pytest.raises(KeyError, match="simulated interruption"):
        _fit(tiny_config(cut, interrupt_at=5, step_ckpts=True))
    mid = base / "step5.ckpt"
    shutil.copy(cut / "steps" / "step=5.ckpt", mid)
    return {"base": base, "full": full, "cut": cut, "mid": mid}


def _weights(path):
    ckpt = torch.load(path, weights_only=True)
    probe = ckpt["callbacks"]["OnlineLinearProbe"]["probe"]
    return ckpt["global_step"], {**ckpt["state_dict"], **{f"probe.{k}": v for k, v in probe.items()}}


def _assert_same_run(full, resumed_root, resumed_version, prefix_root):
    ref = metric_table(full)
    resumed = metric_table(resumed_root, resumed_version)
    before = metric_table(prefix_root, 0)
    combined = {**before, **resumed}
    assert set(combined) == set(ref), f"missing/extra metrics: {set(ref) ^ set(combined)}"
    for key, value in combined.items():
        assert math.isclose(value, ref[key], rel_tol=1e-6, abs_tol=1e-7), (key, value, ref[key])
    step_a, wa = _weights(full / "checkpoints" / "last.ckpt")
    step_b, wb = _weights(resumed_root / "checkpoints" / "last.ckpt")
    assert step_a == step_b == 6
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), rtol=1e-6, atol=1e-7), k


def test_resume_mid_epoch_is_exact(runs):
    """Resuming from the checkpoint after step 5 (epoch 1, batch 2 of 3) reproduces the uninterrupted run."""
    root = runs["base"] / "from_mid"
    _fit(tiny_config(root, step_ckpts=True), "--ckpt_path", str(runs["mid"]))
    _assert_same_run(runs["full"], root, 0, runs["cut"])
    assert len(metric_table(root, 0)) > 0 and min(s for _, s in metric_table(root, 0)) >= 5


def test_resume_last_at_epoch_boundary_is_exact(runs):
    """``--ckpt_path last`` picks the epoch-end checkpoint of the interrupted run and reproduces the full run."""
    cut = runs["cut"]
    assert torch.load(cut / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3
    _fit(tiny_config(cut, step_ckpts=True), "--ckpt_path", "last")
    _assert_same_run(runs["full"], cut, 1, cut)


def test_resume_without_rng_restore_differs(runs, monkeypatch):
    """Control: the exactness test above can fail; without restoring RNG states the losses change."""
    import sslkit.callbacks.resume as resume

    monkeypatch.setattr(resume, "set_rng_states", lambda states: None)
    root = runs["base"] / "no_rng"
    _fit(tiny_config(root, step_ckpts=True), "--ckpt_path", str(runs["mid"]))
    ref, got = metric_table(runs["full"]), metric_table(root, 0)
    assert got[("train/loss", 5)] != ref[("train/loss", 5)]


def test_resume_last_without_checkpoint_starts_fresh(tmp_path):
    root = tmp_path / "fresh"
    with pytest.warns(UserWarning, match="no last checkpoint available"):
        _fit(tiny_config(root, epochs=1, batches=2), "--ckpt_path", "last")
    assert torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2


def test_same_seed_same_loss_trace(runs):
    """Two runs with the same seed log identical train/loss values; another seed does not."""
    again = runs["base"] / "again"
    _fit(tiny_config(again, step_ckpts=True))
    loss = lambda t: [v for (name, step), v in sorted(t.items(), key=lambda kv: kv[0][1]) if name == "train/loss"]  # noqa: E731
    ref = loss(metric_table(runs["full"]))
    assert len(ref) == 6
    assert loss(metric_table(again)) == ref  # exact equality, not allclose
    other = runs["base"] / "seed1"
    _fit(tiny_config(other, seed=1, epochs=1, batches=2))
    assert loss(metric_table(other)) != ref[:2]


def test_versions_recorded_next_to_checkpoints(runs):
    import json

    versions = json.loads((runs["full"] / "checkpoints" / "versions.json").read_text())
    assert versions["torch"] == torch.__version__.split("+")[0] or versions["torch"].startswith(torch.__version__[:4])
    assert {"python", "torch", "lightning", "timm", "transformers", "sslkit"} <= versions.keys()
    ckpt = torch.load(runs["full"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["sslkit"]["versions"] == versions
    assert list((runs["full"] / "csv").rglob("config.yaml")), "the resolved config is saved by LightningCLI"
