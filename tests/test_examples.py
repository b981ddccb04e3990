"""The example project (examples/custom_method) runs as its README says, from a folder outside the repository,
and every recipes/examples/ recipe that runs on embedded data trains a few steps."""

from __future__ import annotations

import json
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
