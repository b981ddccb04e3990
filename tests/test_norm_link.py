"""The CLI links the DataModule's normalisation to a generative method's pixel statistics (issue 21)."""

from __future__ import annotations

import pytest
import torch
from conftest import RECIPES, run_cli

from sslkit.cli import SSLKitCLI

NO_RUN = ["--trainer.logger=false", "--trainer.enable_checkpointing=false", "--dashboard=false"]


def _cli(recipe: str, *extra: str) -> SSLKitCLI:
    return SSLKitCLI(args=["--config", str(RECIPES / recipe), *NO_RUN, *extra], run=False)


def test_vae_from_its_digits_recipe_gets_the_datamodules_statistics():
    cli = _cli("pretrain/digits/vae.yaml")
    assert cli.datamodule.mean == (0.305, 0.305, 0.305) and cli.datamodule.std == (0.385, 0.385, 0.385)
    assert cli.model.hparams.pixel_mean == [0.305] * 3 and cli.model.hparams.pixel_std == [0.385] * 3
    assert torch.equal(cli.model.pixels.mean.flatten(), torch.tensor([0.305] * 3))
    assert torch.equal(cli.model.pixels.std.flatten(), torch.tensor([0.385] * 3))


def test_a_method_without_pixel_arguments_gains_no_pixel_keys():
    cli = _cli("pretrain/digits/simclr.yaml")
    assert not [k for k in cli.model.hparams if k.startswith("pixel_")]


def test_equal_recipe_values_are_kept():
    cli = _cli("pretrain/digits/vae.yaml", "--model.init_args.pixel_mean=[0.305]", "--model.init_args.pixel_std=[0.385]")
    assert cli.model.hparams.pixel_mean == [0.305]  # one value for every channel: consistent, left as written


def test_conflicting_recipe_values_stop_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", str(RECIPES / "pretrain/digits/vae.yaml"), f"--trainer.default_root_dir={tmp_path}",
                "--model.init_args.pixel_mean=[0.5]", short_errors=True)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "pixel_mean=[0.5]" in err and "DigitsDataModule" in err and "[0.305, 0.305, 0.305]" in err
    assert "remove pixel_mean / pixel_std from the recipe" in err


def test_colorization_gets_the_datamodules_statistics_and_a_conflict_names_its_keys():
    cli = _cli("pretrain/digits/colorization.yaml")
    assert torch.equal(cli.model.input_mean.flatten(), torch.tensor([0.305] * 3))
    assert torch.equal(cli.model.input_std.flatten(), torch.tensor([0.385] * 3))
    with pytest.raises(ValueError, match=r"input_std=\[0.5, 0.5, 0.5\] differs .* remove input_mean / input_std from"):
        _cli("pretrain/digits/colorization.yaml", "--model.init_args.input_std=[0.5, 0.5, 0.5]")
