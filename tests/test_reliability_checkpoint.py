"""Checkpoints load with weights_only=True: sslkit's own load, a crafted pickle does not run, W&B run ids persist."""

from __future__ import annotations

import pickle

import pytest
import torch
from conftest import run_cli
from reliability_helpers import tiny_config

from sslkit.methods import load_method
from sslkit.utils.checkpoint import safe_load


class Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.fixture
def evil_ckpt(tmp_path):
    path, marker = tmp_path / "evil.ckpt", tmp_path / "pwned"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Evil(marker)}}, path)
    return path, marker


def test_malicious_pickle_refused_by_load_method(evil_ckpt):
    path, marker = evil_ckpt
    with pytest.raises(pickle.UnpicklingError):
        load_method(path)
    assert not marker.exists()


def test_malicious_pickle_runs_code_when_loaded_unsafely(evil_ckpt):
    """Control: the file really is malicious (so the refusal tests can fail)."""
    path, marker = evil_ckpt
    torch.load(path, weights_only=False)
    assert marker.read_text() == "pwned"


def test_malicious_pickle_refused_by_cli(tmp_path, evil_ckpt):
    path, marker = evil_ckpt
    with pytest.raises(pickle.UnpicklingError):
        run_cli("fit", "--config", str(tiny_config(tmp_path / "run")), "--ckpt_path", str(path))
    assert not marker.exists()


def test_cli_defaults_to_weights_only(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli("fit", "--config", str(tiny_config(tmp_path / "run")), "--print_config")
    assert exc.value.code == 0
    assert "weights_only: true" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_load_method_round_trip(tmp_path, digits):
    from sslkit.methods import SimCLR

    root = tmp_path / "run"
    run_cli("fit", "--config", str(tiny_config(root, epochs=1, batches=2)))
    path = root / "checkpoints" / "last.ckpt"
    ckpt = safe_load(path)  # every entry sslkit writes is weights-only safe
    assert {"sslkit", "DigitsDataModule", "lr_schedulers", "optimizer_states"} <= ckpt.keys()
    model = load_method(path)
    assert isinstance(model, SimCLR) and not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, ckpt["state_dict"][k]), k
    x = torch.stack([digits.labelled_dataset("val")[i][0] for i in range(4)])
    assert model.embed(x).shape == (4, 16)


def test_load_method_refuses_foreign_class(tmp_path):
    path = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "os.system"}}, path)
    with pytest.raises(ValueError, match="outside sslkit"):
        load_method(path)


def test_wandb_run_id_is_resumed_from_checkpoint(tmp_path, monkeypatch):
    from lightning.pytorch.loggers import WandbLogger

    from sslkit.cli import SSLKitCLI

    root = tmp_path / "run"
    cfg = tiny_config(root)
    (root / "checkpoints").mkdir(parents=True)
    torch.save({"sslkit": {"wandb_id": "abc123"}}, root / "checkpoints" / "last.ckpt")
    monkeypatch.setattr(SSLKitCLI, "_run_subcommand", lambda self, subcommand: None)
    cli = SSLKitCLI(args=["fit", "--config", str(cfg), "--wandb.mode", "offline", "--ckpt_path", "last"])
    (wandb,) = [lg for lg in cli.trainer.loggers if isinstance(lg, WandbLogger)]
    assert wandb._wandb_init["id"] == "abc123" and wandb._wandb_init["resume"] == "allow"
    fresh = SSLKitCLI(args=["fit", "--config", str(cfg), "--wandb.mode", "offline"])
    (wandb,) = [lg for lg in fresh.trainer.loggers if isinstance(lg, WandbLogger)]
    assert wandb._wandb_init.get("id") is None
