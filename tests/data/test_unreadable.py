"""Truncated and non-image files in an ImageFolder: stop naming the path, or replace, share flags and log a count."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import column, read_metrics, run_cli
from PIL import Image
from torch.utils.data import DataLoader

from sslkit.data import ImageFolderDataModule, ReadableImages, UnreadableImageError
from sslkit.transforms import ViewAugment

RNG = np.random.default_rng(0)
SIZE = 16


def _png(size: int = SIZE) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, size=(size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def make_folder(root: Path, classes: int = 2, per_class: int = 8, bad: bool = False) -> list[str]:
    """``root/class_<c>/<i>.png``; with ``bad``, class_0 also holds a truncated PNG and a text file named ``x.jpg``.

    The bad files sort last in class_0, so the next file after them belongs to class_1: a replacement
    that ignored labels would come from the wrong class. Returns the bad files' paths.
    """
    for c in range(classes):
        (root / f"class_{c}").mkdir(parents=True)
        for i in range(per_class):
            (root / f"class_{c}" / f"{i}.png").write_bytes(_png())
    if not bad:
        return []
    truncated, text = root / "class_0" / "truncated.png", root / "class_0" / "x.jpg"
    data = _png()
    truncated.write_bytes(data[: len(data) // 2])  # PIL: OSError "image file is truncated"
    text.write_text("this is not an image\n")  # PIL: UnidentifiedImageError
    return [str(truncated), str(text)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, list[str]]:
    """A train folder with two bad files in class_0 (16 good images + 2 bad), and clean val/test folders."""
    root = tmp_path_factory.mktemp("imgs")
    bad = make_folder(root / "train", bad=True)
    make_folder(root / "val", per_class=4)
    make_folder(root / "test", per_class=4)
    return root, bad


def datamodule(root: Path, policy: str, labelled: bool = True) -> ImageFolderDataModule:
    kwargs = {"val_root": str(root / "val"), "test_root": str(root / "test")} if labelled else {}
    return ImageFolderDataModule(root=str(root / "train"), labelled=labelled, bad_files=policy, batch_size=4,
                                 views=[ViewAugment(size=SIZE, num_views=2)], **kwargs)


# ---------------------------------------------------------------------- unit
def test_stop_raises_naming_the_file(folders):
    root, bad = folders
    train, labels = datamodule(root, "stop").splits()["train"]
    assert len(train) == 18 and labels.tolist() == [0] * 10 + [1] * 8
    assert train[0][0].size == (SIZE, SIZE)  # readable files pass through
    for i, path in zip((8, 9), bad):
        with pytest.raises(UnreadableImageError, match="cannot read image file") as exc:
            train[i]
        assert path in str(exc.value) and "bad_files: replace" in str(exc.value)
    assert "truncated" in str(exc.value.__cause__) or "identify" in str(exc.value.__cause__)


def test_replace_returns_a_readable_image_of_the_same_class(folders):
    root, bad = folders
    dm = datamodule(root, "replace")
    train, _ = dm.splits()["train"]
    assert dm.unreadable_files() == []
    with pytest.warns(UserWarning, match="unreadable image file") as record:
        img, y = train[8]
    assert sorted(path for path in bad for w in record if path in str(w.message)) == sorted(bad)  # one warning each
    assert img.size == (SIZE, SIZE) and y == 0
    assert np.array_equal(np.asarray(img), np.asarray(train[0][0]))  # scan forward, wrapping: 9 is bad, then class_0 #0
    assert train.flags.tolist() == [0] * 8 + [1, 1] + [0] * 8  # 9 was tried on the way and flagged too
    assert dm.unreadable_files() == sorted(bad)
    assert dm.unreadable_flags().tolist() == train.flags.tolist() + [0] * 16  # val and test are clean
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # already flagged: replaced without re-reading, no second warning
        for i in (8, 9):
            img, y = train[i]
            assert img.size == (SIZE, SIZE) and y == 0


class _Files(torch.utils.data.Dataset):
    def __init__(self, paths, labels):
        self.paths, self.labels = paths, labels

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from torchvision.datasets.folder import default_loader

        return default_loader(str(self.paths[i])), self.labels[i]


def test_replace_stops_naming_a_class_with_no_readable_file_left(tmp_path):
    """Never another class's image: that would train on a wrong label (the old fallback did)."""
    good, broken = tmp_path / "good.png", tmp_path / "broken.jpg"
    good.write_bytes(_png())
    broken.write_text("no")
    ds = ReadableImages(_Files([broken, good], [0, 1]), [broken, good], [0, 1], "replace", class_names=["cat", "dog"])
    with pytest.warns(UserWarning), pytest.raises(UnreadableImageError) as exc:
        ds[0]
    message = str(exc.value)
    assert "class 'cat' (label 0)" in message and str(broken) in message
    assert "Add readable images of this class or remove its folder" in message
    assert ds[1][1] == 1  # the readable class is unaffected
    unlabelled = ReadableImages(_Files([broken, good], [-1, -1]), [broken, good], [-1, -1], "replace")
    with pytest.warns(UserWarning, match="replaced by the next readable image$"):
        assert unlabelled[0][1] == -1
    assert np.array_equal(np.asarray(unlabelled[0][0]), np.asarray(unlabelled[1][0]))
    ds = ReadableImages(_Files([broken], [-1]), [broken], [-1], "replace")
    with pytest.warns(UserWarning), pytest.raises(UnreadableImageError, match="no readable image file"):
        ds[0]
    with pytest.raises(ValueError, match="bad_files must be one of"):
        ImageFolderDataModule(root=str(tmp_path), bad_files="skip")


def test_folder_class_with_only_bad_files_is_named(tmp_path):
    for split in ("train", "val", "test"):
        make_folder(tmp_path / split, per_class=2)
    for f in (tmp_path / "train" / "class_1").iterdir():
        f.write_text("not an image")
    train, _ = datamodule(tmp_path, "replace").splits()["train"]
    with pytest.warns(UserWarning), pytest.raises(UnreadableImageError, match=r"class 'class_1' \(label 1\)"):
        train[2]


def test_unlabelled_folder_is_covered(folders):
    root, bad = folders
    dm = datamodule(root, "replace", labelled=False)
    data = [ds for ds, _ in dm.splits().values()]
    with pytest.warns(UserWarning):
        for ds in data:
            for i in range(len(ds)):
                assert ds[i][0].size == (SIZE, SIZE)
    assert sum(len(ds) for ds in data) == 18
    assert dm.unreadable_files() == sorted(bad)


def test_flags_set_in_dataloader_workers_reach_the_main_process(folders):
    root, bad = folders
    dm = datamodule(root, "replace")
    bank = dm.labelled_dataset("train")  # eval transform: tensors that collate
    loader = DataLoader(bank, batch_size=6, num_workers=2)
    batches = list(loader)  # the bad files are read (and flagged) in worker processes only
    assert [tuple(x.shape) for x, _ in batches] == [(6, 3, SIZE, SIZE)] * 3
    assert torch.cat([y for _, y in batches]).tolist() == [0] * 10 + [1] * 8
    assert dm.unreadable_files() == sorted(bad)


def test_flags_survive_a_checkpoint_round_trip(folders, tmp_path):
    """A resumed run keeps the files flagged (never re-read) and its count does not restart."""
    from types import SimpleNamespace

    from sslkit.callbacks import UnreadableFilesMonitor

    root, bad = folders
    dm = datamodule(root, "replace")
    with pytest.warns(UserWarning):
        dm.splits()["train"][0][8]
    monitor = UnreadableFilesMonitor()
    with pytest.warns(UserWarning, match="2 unreadable"):
        monitor.on_train_epoch_end(SimpleNamespace(world_size=1, sanity_checking=False, datamodule=dm), _Module())
    path = tmp_path / "state.pt"
    torch.save({"data": dm.state_dict(), "monitor": monitor.state_dict()}, path)
    saved = torch.load(path, weights_only=True)  # weights-only safe: plain lists of strings
    assert saved["data"]["unreadable_files"] == saved["monitor"]["reported"] == sorted(bad)

    resumed, monitor = datamodule(root, "replace"), UnreadableFilesMonitor()
    resumed.load_state_dict(saved["data"])
    monitor.load_state_dict(saved["monitor"])
    module = _Module()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no file is read again and nothing is reported twice
        monitor.on_train_epoch_end(SimpleNamespace(world_size=1, sanity_checking=False, datamodule=resumed), module)
        assert resumed.splits()["train"][0][8][1] == 0
    assert module.logged["data/unreadable_files"] == 2.0
    assert resumed.unreadable_files() == sorted(bad)
    with pytest.warns(UserWarning, match="1 of the 2 unreadable files saved in the checkpoint are not in this dataset"):
        datamodule(root, "replace").load_state_dict({"unreadable_files": [bad[0], "/elsewhere/gone.jpg"]})


# ---------------------------------------------------------------------- end to end
def _config(tmp: Path, data_root: Path, policy: str) -> Path:
    cfg = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 1, "log_every_n_steps": 1,
                    "default_root_dir": str(tmp / "run")},
        "model": {"class_path": "sslkit.methods.SimCLR", "init_args": {
            "backbone": "tiny_cnn", "backbone_kwargs": {"widths": [8, 16]}, "proj_hidden_dim": 16, "proj_output_dim": 8,
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.003}}}},
        "data": {"class_path": "sslkit.data.ImageFolderDataModule", "init_args": {
            "root": str(data_root / "train"), "val_root": str(data_root / "val"), "test_root": str(data_root / "test"),
            "bad_files": policy, "batch_size": 4, "eval_batch_size": 8,
            "views": [{"size": SIZE, "num_views": 2, "crop_scale": [0.4, 1.0]}]}},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_stop_policy_stops_the_run_naming_the_file(folders, tmp_path):
    root, bad = folders
    with pytest.raises(UnreadableImageError) as exc:
        run_cli("fit", "--config", str(_config(tmp_path, root, "stop")), "--trainer.max_epochs=1", "--wandb.mode=disabled")
    assert any(path in str(exc.value) for path in bad)
    assert not (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()


def test_replace_policy_finishes_and_logs_the_count(folders, tmp_path):
    root, bad = folders
    with pytest.warns(UserWarning, match=r"2 unreadable image file\(s\) found and replaced"):
        run_cli("fit", "--config", str(_config(tmp_path, root, "replace")), "--trainer.max_epochs=1",
                "--wandb.mode=disabled")
    counts = column(read_metrics(tmp_path / "run"), "data/unreadable_files")
    assert counts and set(counts) == {2.0}  # train and validation epoch ends (the sanity check read the bank)
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["ImageFolderDataModule"]["unreadable_files"] == sorted(bad)  # restored on resume
    assert ckpt["callbacks"]["UnreadableFilesMonitor"]["reported"] == sorted(bad)


def test_invalid_policy_fails_before_training(folders, tmp_path, capsys):
    root, _ = folders
    with pytest.raises(SystemExit) as exc:
        run_cli("fit", "--config", str(_config(tmp_path, root, "stop")), "--data.init_args.bad_files=skip",
                "--wandb.mode=disabled")
    assert exc.value.code != 0
    assert "bad_files" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() or not any(p.is_file() for p in (tmp_path / "run").rglob("*"))


# ---------------------------------------------------------------------- two processes
class _Module:
    """Stands in for the LightningModule: a device and a ``log`` that records."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def log(self, name: str, value: float, sync_dist: bool) -> None:  # no reduction here: the callback's own counts
        self.logged[name] = value


def _ddp_worker(rank: int, port: int, root: str, results) -> None:
    import os
    from types import SimpleNamespace

    import torch.distributed as dist

    from sslkit.callbacks import UnreadableFilesMonitor

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        dm = datamodule(Path(root), "replace")
        train, labels = dm.splits()["train"]
        mine = [i for i, p in enumerate(train.paths) if p.endswith(f"bad_{rank}.jpg")]  # each rank meets one file
        with pytest.warns(UserWarning):
            assert train[mine[0]][1] == labels[mine[0]] == rank
        module, trainer = _Module(), SimpleNamespace(world_size=2, sanity_checking=False, datamodule=dm)
        UnreadableFilesMonitor().on_train_epoch_end(trainer, module)
        dm.trainer = SimpleNamespace(world_size=2, strategy=SimpleNamespace(root_device=torch.device("cpu")))
        saved = dm.state_dict()["unreadable_files"]  # what rank 0 writes into a checkpoint: every rank's files
        results[rank] = (dm.unreadable_files(), module.logged["data/unreadable_files"], saved)
    finally:
        dist.destroy_process_group()


@pytest.mark.ddp
def test_count_is_combined_over_processes(tmp_path):
    import socket

    import torch.multiprocessing as mp

    for split in ("train", "val", "test"):
        make_folder(tmp_path / split, per_class=4)
    for c in (0, 1):
        (tmp_path / "train" / f"class_{c}" / f"bad_{c}.jpg").write_text("not an image")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = mp.Manager().dict()
    # fork: the children reuse this process's imports (spawn would re-import torch and Lightning, ~20 s each)
    mp.start_processes(_ddp_worker, args=(port, str(tmp_path), results), nprocs=2, join=True, start_method="fork")
    both = sorted(str(tmp_path / "train" / f"class_{c}" / f"bad_{c}.jpg") for c in (0, 1))
    for rank in (0, 1):
        local, logged, saved = results[rank]
        assert local == [both[rank]]  # each process flagged only the file it read
        assert logged == 2.0  # but logs the run's count: the all-reduce max of the flags
        assert saved == both  # and checkpoints both
