"""The sweep commands on digits: label efficiency (SSL vs random init), cross-domain matrix, adaptation."""

import csv

import numpy as np
import pytest

from conftest import RECIPES, run_cli
from sslkit.cli import main
from sslkit.data import ShiftedDigitsDataModule
from sslkit.commands import COMMANDS, parser
from sslkit.transfer.cross_domain import cross_domain
from sslkit.transfer.runner import BackboneSource, TrainSettings
from sslkit.transforms import ViewAugment

COMMAND_RECIPES = sorted(p for p in (RECIPES / "transfer").rglob("*.yaml") if p.read_text().startswith("# sslkit ")
                         and not p.read_text().startswith("# sslkit fit"))


def _domain(shift):
    return ShiftedDigitsDataModule(shift=shift, load_size=16, views=[ViewAugment(size=16, num_views=1)])


@pytest.mark.parametrize("recipe", COMMAND_RECIPES, ids=[p.name for p in COMMAND_RECIPES])
def test_command_recipes_parse(recipe, capsys):
    command = recipe.read_text().split()[2].rstrip(":")
    assert command in COMMANDS
    cfg = parser(command).parse_args(["--config", str(recipe)])
    assert cfg.out_dir.startswith("runs/")


@pytest.mark.slow
def test_label_efficiency_sweep_ssl_beats_random_init(tmp_path, simclr_ckpt):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(f"""
data: {{class_path: sslkit.data.DigitsDataModule, init_args: {{load_size: 16, views: [{{size: 16, num_views: 1}}]}}}}
backbones:
  - {{label: simclr, checkpoint: {simclr_ckpt}}}
  - {{label: random_init, backbone: tiny_cnn, backbone_kwargs: {{widths: [32, 64, 128]}}}}
strategies: [logistic, linear]
fractions: [0.05, 0.1]
seeds: [0, 1]
settings: {{linear_steps: 100}}
out_dir: {tmp_path / "out"}
wandb: disabled
""")
    main(["label-efficiency", "--config", str(cfg)])
    out = tmp_path / "out"
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 2 * 2 * 2 * 2
    table = (out / "results.md").read_text()
    assert "| simclr | logistic |" in table and "10% labels" in table and "±" in table
    png = (out / "label_efficiency.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    acc = {b: np.mean([float(r["acc"]) for r in rows if r["backbone"] == b and r["fraction"] == "0.1"])
           for b in ("simclr", "random_init")}
    assert acc["random_init"] > 0.5  # random conv features are already good on digits ...
    assert acc["simclr"] > acc["random_init"], acc  # ... and SSL pretraining beats them at 10% labels


def test_cross_domain_matrix(tmp_path):
    result = cross_domain([_domain("none"), _domain("inverted")], [BackboneSource("random_init", backbone_kwargs={"widths": [16, 32]})],
                          strategy="logistic", settings=TrainSettings(), out_dir=str(tmp_path))
    m = result["random_init"]
    assert m["none"]["none"] > 0.8 and m["inverted"]["inverted"] > 0.8  # in-domain
    assert m["none"]["inverted"] < 0.3 and m["inverted"]["none"] < 0.3  # inversion breaks transfer
    text = (tmp_path / "matrix.md").read_text()
    assert "| none | **" in text and len(list(csv.DictReader(open(tmp_path / "matrix.csv")))) == 4


def test_cross_domain_summary_is_the_mean_of_the_diagonal_and_of_the_rest():
    from sslkit.transfer.cross_domain import summary_markdown

    rows = [{"backbone": b, "source": s, "target": t, "acc": a} for b, cells in
            (("random_init", {("a", "a"): 0.9, ("a", "b"): 0.2, ("b", "a"): 0.4, ("b", "b"): 0.8}),
             ("ssl", {("a", "a"): 1.0, ("a", "b"): 0.7, ("b", "a"): 0.5, ("b", "b"): 0.9})) for (s, t), a in cells.items()]
    text = summary_markdown(rows)
    assert "| random_init | 85.0 | 30.0 |" in text and "| ssl | 95.0 | 60.0 |" in text
