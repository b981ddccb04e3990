"""The example project (examples/custom_method) runs as its README says, from a folder outside the repository,
and every recipes/examples/ recipe that runs on embedded data trains a few steps."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, column, read_metrics

EXAMPLE = ROOT / "examples" / "custom_method"
QUICK = ["--trainer.max_epochs=1", "--trainer.log_every_n_steps=1", "--trainer.limit_train_batches=4", "--trainer.limit_val_batches=1",
         "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--dashboard=false"]


def readme_commands() -> list[str]:
    text = (EXAMPLE / "README.md").read_text()
    block = re.search(r"<!-- example-commands -->\s*```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def sslkit_exe() -> list[str]:
    exe = shutil.which("sslkit", path=str(Path(sys.executable).parent)) or shutil.which("sslkit")
    return [exe] if exe else [sys.executable, "-m", "sslkit.cli"]


def run_in(folder: Path, line: str, extra: list[str] = ()) -> subprocess.CompletedProcess:
    argv = shlex.split(line)
    argv = (sslkit_exe() if argv[0] == "sslkit" else [sys.executable] if argv[0] == "python" else argv[:1]) + argv[1:]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run(argv + list(extra), cwd=folder, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("my_project")
    assert not folder.resolve().is_relative_to(ROOT)
    for f in EXAMPLE.iterdir():
        shutil.copy(f, folder / f.name)
    return folder


def test_the_readme_commands_run_outside_the_repository(project):
    commands = readme_commands()
    assert [c.split()[:2] for c in commands] == [["sslkit", "fit"], ["python", "-c"], ["sslkit", "export"],
                                                 ["sslkit", "report"]]
    fit = run_in(project, commands[0], QUICK)
    assert fit.returncode == 0, fit.stderr[-3000:]
    run = project / "runs" / "flip"
    rows = read_metrics(run)
    assert column(rows, "train/flip_acc") and column(rows, "probe/linear_acc") and column(rows, "knn/acc")
    summary = json.loads((run / "summary.json").read_text())  # sslkit's end-of-run linear evaluation
    assert "self-supervised backbone" in fit.stdout and summary
    losses = json.loads((run / "loss_summary.json").read_text())  # the user's own callback
    assert losses["steps"] == 4 and losses["lowest"] <= losses["first"]
    assert (run / "report.html").is_file()

    loaded = run_in(project, commands[1])
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == ["FlipPrediction", "128"]

    exported = run_in(project, commands[2])
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (project / "flip_backbone.safetensors").is_file() and (project / "flip_backbone.json").is_file()
    report = run_in(project, commands[3])
    assert report.returncode == 0, report.stderr[-3000:]


def test_loaded_and_exported_backbones_give_the_checkpoint_features(project, monkeypatch):
    ckpt = project / "runs" / "flip" / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        pytest.skip("needs the run of test_the_readme_commands_run_outside_the_repository")
    from sslkit.methods import load_method
    from sslkit.transfer.export import backbone_from_export

    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "path", list(sys.path))
    model = load_method(ckpt)  # no cls=: my_flip is found in the working directory
    assert type(model).__name__ == "FlipPrediction" and type(model).__module__ == "my_flip"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert set(model.state_dict()) == set(state)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    exported = backbone_from_export(project / "flip_backbone.safetensors").eval()
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model.embed(x), exported(x), atol=1e-6)
        fresh = type(model)(backbone="tiny_cnn", backbone_kwargs={"widths": [32, 64, 128]}).eval()
        assert not torch.allclose(fresh.embed(x), exported(x), atol=1e-3)  # the weights did load


def test_a_class_that_does_not_import_is_one_line_naming_the_module(project, tmp_path):
    proc = run_in(tmp_path, f"sslkit fit --config {project / 'flip.yaml'}")  # from another folder
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "cannot import 'my_callback.LossSummary': No module named 'my_callback'" in lines[0]
    assert "run sslkit from the folder that holds my_callback.py, or add that folder to PYTHONPATH" in lines[0]


EXAMPLES = ROOT / "recipes" / "examples"
STEPS = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--dashboard=false",
         "--wandb.mode=disabled", "--report=false"]


def test_every_example_recipe_has_a_header_saying_what_it_reproduces_and_how_it_differs():
    recipes = sorted(EXAMPLES.glob("*.yaml"))
    assert len(recipes) == 4
    for recipe in recipes:
        header = "".join(line for line in recipe.read_text().splitlines(True) if line.startswith("#"))
        assert header.startswith("# Reproduces:") and "differs" in header, recipe.name


def test_autoencoder_tutorial_runs_on_the_one_liners_array(tmp_path, monkeypatch):
    from conftest import run_cli

    recipe = EXAMPLES / "autoencoder_mlp_tutorial.yaml"
    line = next(x for x in recipe.read_text().splitlines() if x.startswith("#   python -c"))
    proc = run_in(tmp_path, line[len("#   "):])  # the one-liner exactly as written in the header
    assert proc.returncode == 0, proc.stderr[-2000:]
    monkeypatch.chdir(tmp_path)
    run_cli("fit", "--config", str(recipe), "--trainer.max_epochs=2", "--trainer.limit_train_batches=3",
            "--trainer.check_val_every_n_epoch=1", "--trainer.log_every_n_steps=1", *STEPS)
    run = tmp_path / "runs" / "examples-autoencoder-mlp"
    rows = read_metrics(run)
    loss = column(rows, "train/loss")
    assert len(loss) == 6 and loss[-1] < loss[0]
    assert column(rows, "probe/linear_acc") and column(rows, "knn/acc")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_train"] == 1438 and summary["n_test"] == 179  # 80/10/10 of 1,797 in order, all labels


def test_transfer_recipe_keeps_the_checkpoint_of_best_validation_accuracy(tmp_path, monkeypatch):
    from conftest import run_cli

    monkeypatch.chdir(tmp_path)
    run_cli("fit", "--config", str(EXAMPLES / "transfer_frozen_lower_best_val.yaml"), "--trainer.max_steps=40",
            "--trainer.val_check_interval=8", "--trainer.log_every_n_steps=1", *STEPS[:-1])
    folder = tmp_path / "runs" / "examples-transfer-best-val" / "checkpoints"
    (best,) = folder.glob("best-*.ckpt")
    val = column(read_metrics(tmp_path / "runs"), "val/acc")
    assert len(val) == 5 and max(val) > min(val) + 0.1  # measured: 0.10, 0.10, 0.16, 0.33, 0.43
    score = float(best.stem.rsplit("-", 1)[1])
    assert score == pytest.approx(max(val), abs=1e-3)
    ckpt = torch.load(best, map_location="cpu", weights_only=True)
    (state,) = [v for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint")]
    assert state["monitor"] == "val/acc" and float(state["best_model_score"]) == pytest.approx(max(val))


def test_bert_sentiment_recipe_fine_tunes_on_a_users_csv(tmp_path, monkeypatch):
    from conftest import run_cli

    good = ["a wonderful, moving film", "great acting and a great story", "I loved every minute", "superb and funny"]
    bad = ["a dull, boring mess", "terrible acting and a weak story", "I hated every minute", "awful and tedious"]
    rows = [(t, "positive") for t in good] + [(t, "negative") for t in bad]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "reviews.csv").write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows * 5))
    monkeypatch.chdir(tmp_path)
    run_cli("fit", "--config", str(EXAMPLES / "bert_sentiment_csv.yaml"), "--trainer.max_steps=2",
            "--trainer.limit_val_batches=1", "--trainer.val_check_interval=2", "--trainer.log_every_n_steps=1",
            "--data.init_args.batch_size=8",
            "--data.init_args.source.init_args.max_length=16", *STEPS[:-1])
    rows = read_metrics(tmp_path / "runs")
    assert len(column(rows, "train/loss")) == 2 and all(math.isfinite(v) for v in column(rows, "train/loss"))
    assert column(rows, "val/acc")
