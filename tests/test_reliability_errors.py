"""Configuration mistakes fail before training, name the culprit and leave no files behind."""

from __future__ import annotations

import pytest
from conftest import run_cli
from reliability_helpers import tiny_config

from sslkit.backbones import create_backbone


def _nothing_written(root):
    """No file under the run folder (Lightning's CSVLogger may leave an empty ``csv/version_0`` folder)."""
    return not root.exists() or [p for p in root.rglob("*") if p.is_file()] == []


def test_unknown_backbone_lists_names_and_closest_match():
    with pytest.raises(ValueError, match=r"unknown backbone 'tiny_cn'\. Did you mean 'tiny_cnn'\?.*Available: .*tiny_cnn.*timm:<model>"):
        create_backbone("tiny_cn")


def test_unknown_backbone_through_cli(tmp_path):
    root = tmp_path / "run"
    with pytest.raises(ValueError, match="Did you mean 'tiny_cnn'"):
        run_cli("fit", "--config", str(tiny_config(root)), "--model.init_args.backbone", "tiny_cn")
    assert _nothing_written(root)


def test_misspelt_yaml_key_exits_nonzero_naming_it(tmp_path, capsys):
    root = tmp_path / "run"
    cfg = tiny_config(root)
    cfg.write_text(cfg.read_text().replace("proj_output_dim: 16", "proj_output_dim: 16\n    temprature: 0.2"))
    with pytest.raises(SystemExit) as exc:
        run_cli("fit", "--config", str(cfg))
    assert exc.value.code != 0
    assert "temprature" in capsys.readouterr().err
    assert _nothing_written(root)


def test_unknown_command_line_option_exits_nonzero(tmp_path, capsys):
    root = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        run_cli("fit", "--config", str(tiny_config(root)), "--trainer.max_epoks", "1")
    assert exc.value.code != 0
    assert "max_epoks" in capsys.readouterr().err
    assert _nothing_written(root)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--data.init_args.label_fraction", "0", r"label_fraction must be in \(0, 1\]"),
    ("--data.init_args.label_fraction", "1.5", r"label_fraction must be in \(0, 1\]"),
    ("--data.init_args.batch_size", "5000", r"batch_size=5000 is larger than the training set \(1257 images\)"),
])
def test_invalid_data_settings_fail_before_training(tmp_path, option, value, message):
    root = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        run_cli("fit", "--config", str(tiny_config(root)), option, value)
    assert _nothing_written(root)


def test_view_size_too_small_for_backbone_fails_before_training(tmp_path):
    root = tmp_path / "run"
    with pytest.raises(ValueError, match=r"backbone 'timm:vit_tiny_patch16_224' cannot embed 16x16 views.*img_size=16"):
        run_cli("fit", "--config", str(tiny_config(root)), "--model.init_args.backbone", "timm:vit_tiny_patch16_224",
                "--model.init_args.backbone_kwargs", "{}")
    assert _nothing_written(root)
