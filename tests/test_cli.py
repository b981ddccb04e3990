"""The `sslkit` command end to end: the foundation contract."""

import shutil
import subprocess
import sys

import pytest

from conftest import RECIPES, column, read_metrics, run_cli

QUICKSTART = str(RECIPES / "pretrain/digits/simclr.yaml")


def test_quickstart_contract_in_a_subprocess(tmp_path):
    exe = [shutil.which("sslkit")] if shutil.which("sslkit") else [sys.executable, "-m", "sslkit.cli"]
    cmd = exe + ["fit", "--config", QUICKSTART, "--trainer.max_epochs=3", f"--trainer.default_root_dir={tmp_path}",
                 "--trainer.enable_progress_bar=false"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**__import__("os").environ, "WANDB_MODE": "disabled"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_metrics(tmp_path)
    loss, probe, knn = column(rows, "train/loss"), column(rows, "probe/linear_acc"), column(rows, "knn/acc")
    assert len(probe) == 3 and len(knn) == 3 and len(loss) >= 3
    assert loss[-1] < loss[0]
    assert probe[-1] > 0.3, probe  # chance is 0.1 (10 classes)
    assert knn[-1] > 0.6, knn
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert "self-supervised backbone" in proc.stdout and (tmp_path / "summary.json").is_file()


def test_misspelt_key_exits_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        run_cli("fit", "--config", QUICKSTART, "--model.init_args.temprature=0.1", f"--trainer.default_root_dir={tmp_path}")
    assert info.value.code != 0
    assert "temprature" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def test_misspelt_yaml_key_exits_naming_it(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(open(QUICKSTART).read().replace("batch_size: 128", "batchsize: 128"))
    with pytest.raises(SystemExit) as info:
        run_cli("fit", "--config", str(bad), f"--trainer.default_root_dir={tmp_path / 'run'}")
    assert info.value.code != 0
    assert "batchsize" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_unknown_method_class_exits(capsys):
    with pytest.raises(SystemExit) as info:
        run_cli("fit", "--config", QUICKSTART, "--model=sslkit.methods.SimCRL")
    assert info.value.code != 0
    assert "SimCRL" in capsys.readouterr().err


def test_wandb_defaults_to_offline_and_never_prompts(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setattr("sys.stdin", None)  # any prompt would fail
    from sslkit.cli import WandbOptions

    assert WandbOptions().mode == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert WandbOptions().mode == "disabled" and WandbOptions().logger(tmp_path) is None
    monkeypatch.delenv("WANDB_MODE")
    run_cli("fit", "--config", QUICKSTART, "--trainer.max_epochs=1", "--trainer.limit_train_batches=1",
            "--trainer.limit_val_batches=1", "--trainer.callbacks=[]", f"--trainer.default_root_dir={tmp_path}")
    runs = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0


def test_option_prefixes_are_not_silently_expanded(capsys):
    # argparse would read --trainer.max_epoch as --trainer.max_epochs; sslkit refuses abbreviations
    with pytest.raises(SystemExit) as info:
        run_cli("fit", "--config", QUICKSTART, "--trainer.max_epoch=1", "--print_config")
    assert info.value.code != 0
    assert "max_epoch" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    from sslkit.commands import COMMANDS

    run_cli_help = __import__("sslkit.cli", fromlist=["main"]).main
    run_cli_help(["--help"])
    out = capsys.readouterr().out
    for command in ("fit", "validate", "test", "predict", *COMMANDS):
        assert f"\n  {command} " in out, command
    assert "Self-supervised pretraining" in out and "SSLKIT_DEBUG" in out


def _short_error(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as info:
        run_cli(*args, short_errors=True)
    assert info.value.code == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("sslkit: error: ")]
    # the message is the last line, with no traceback of the error itself (pytest's closed capture streams can
    # make Lightning's log handler print a "Logging error" block earlier, which is not sslkit's output)
    assert len(lines) == 1 and err.strip().splitlines()[-1] == lines[0], err
    return lines[0][len("sslkit: error: "):]


def test_bad_value_prints_one_line_naming_the_key_and_the_fix(tmp_path, capsys):
    msg = _short_error(capsys, "fit", "--config", QUICKSTART, "--data.init_args.batch_size=0",
                       f"--trainer.default_root_dir={tmp_path}")
    assert msg == ("sslkit.data.DigitsDataModule: batch_size and eval_batch_size must be >= 1, got 0 and 512; "
                   "set data.init_args.batch_size (and eval_batch_size) to a positive number")
    assert not any(tmp_path.iterdir())


def test_empty_image_folder_says_what_to_put_where(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    msg = _short_error(capsys, "fit", "--config", QUICKSTART, "--data=sslkit.data.ImageFolderDataModule",
                       f"--data.init_args.root={tmp_path / 'images'}", f"--trainer.default_root_dir={tmp_path / 'run'}")
    assert msg == (f"sslkit.data.ImageFolderDataModule: {tmp_path / 'images'} has no class subfolders; "
                   "expected root/<class_name>/<image>.png|jpg, or set labelled: false")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_gpu_recipe_on_a_cpu_machine(tmp_path, capsys):
    msg = _short_error(capsys, "fit", "--config", str(RECIPES / "pretrain/cifar10/simclr.yaml"),
                       f"--trainer.default_root_dir={tmp_path}")
    assert msg.startswith("this recipe asks for a GPU (trainer.accelerator: gpu), and this machine has none.")
    assert "--trainer.accelerator=cpu --trainer.devices=1" in msg


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all\n" * 50, bytes(range(256)) * 8])
def test_corrupt_checkpoint_is_named_not_unpickled(tmp_path, capsys, content):
    bad = tmp_path / "last.ckpt"
    bad.write_bytes(content)
    msg = _short_error(capsys, "fit", "--config", QUICKSTART, f"--ckpt_path={bad}", "--trainer.max_epochs=1",
                       f"--trainer.default_root_dir={tmp_path / 'run'}")
    assert msg.startswith(f"cannot load the checkpoint {bad}: it is truncated, corrupt or not a Lightning checkpoint")
    assert msg.endswith("Pass a .ckpt written by sslkit fit, or drop --ckpt_path to start fresh.")
    assert "weights_only=False" not in msg


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLKIT_DEBUG", "1")
    with pytest.raises(ValueError, match="Does not validate"):
        run_cli("fit", "--config", QUICKSTART, "--data.init_args.batch_size=0", f"--trainer.default_root_dir={tmp_path}")


def test_recipe_classes_import_from_the_working_directory(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_probe.py").write_text("from sslkit.callbacks import OnlineLinearProbe\n\n\n"
                                          "class MyProbe(OnlineLinearProbe):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "my_probe", raising=False)
    with pytest.raises(SystemExit) as info:  # --print_config: parsing imports every class, nothing trains
        run_cli("fit", "--config", QUICKSTART, "--trainer.callbacks+=my_probe.MyProbe", "--print_config")
    assert info.value.code in (0, None), capsys.readouterr().err
    assert "class_path: my_probe.MyProbe" in capsys.readouterr().out


@pytest.mark.parametrize("arg, message", [
    ("--model=my_method.MyMethod", "sslkit: error: cannot import 'my_method.MyMethod': No module named 'my_method' "
     "(run sslkit from the folder that holds my_method.py, or add that folder to PYTHONPATH; working directory: "),
    ("--model=sslkit.methods.SimCRL", "sslkit: error: cannot import 'sslkit.methods.SimCRL': module sslkit.methods "),
])
def test_a_class_that_does_not_import_is_one_line(arg, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        run_cli("fit", "--config", QUICKSTART, arg, short_errors=True)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err
    if "SimCRL" in arg:
        assert err[0].endswith("did you mean sslkit.methods.SimCLR?")
