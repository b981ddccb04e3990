"""LitData streaming: exact round trip of a converted ImageFolder, per-epoch shuffling, mid-epoch resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("litdata")

from sslkit.data import StreamingImageDataModule, convert_image_folder  # noqa: E402
from sslkit.transforms import ViewAugment  # noqa: E402

SIZE, BATCH = 8, 4
COUNTS = {"train": 8, "val": 2, "test": 2}  # per class; 2 classes
# every random step off: a view is the image itself, so pixel [0, 0, 0] names the image in a batch
IDENTITY = dict(size=SIZE, num_views=2, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_prob=0.0, jitter_prob=0.0,
                grayscale_prob=0.0)


def _write_folder(root: Path) -> dict[str, list[tuple[Path, int]]]:
    """Noise images whose pixel [0, 0, red] is a unique id (train ids 0..15); PNG, and JPEG in val and test."""
    from PIL import Image

    rng = np.random.default_rng(0)
    files, uid = {}, 0
    for split, n in COUNTS.items():
        files[split] = []
        for label, cls in enumerate(("cat", "dog")):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                a = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
                a[0, 0, 0] = uid
                uid += 1
                path = root / split / cls / (f"{i}.jpg" if split != "train" and i % 2 else f"{i}.png")  # JPEG: lossy
                Image.fromarray(a).save(path, quality=90)
                files[split].append((path, label))
    return files


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("litdata")
    files = _write_folder(base / "images")
    out = convert_image_folder(str(base / "images" / "train"), str(base / "chunks"), val_root=str(base / "images" / "val"),
                               test_root=str(base / "images" / "test"), num_workers=2, start_method="fork")
    return out, files


def _datamodule(path: Path, **kwargs) -> StreamingImageDataModule:
    return StreamingImageDataModule(str(path), views=[ViewAugment(**IDENTITY)], batch_size=BATCH, **kwargs)


def test_every_image_round_trips_exactly(converted):
    from torchvision.datasets.folder import default_loader

    out, files = converted
    meta = json.loads((out / "sslkit.json").read_text())
    assert meta["classes"] == ["cat", "dog"]
    dm = _datamodule(out)
    assert dm.num_classes == 2
    for split, expected in files.items():
        data, labels = dm.splits()[split]
        assert len(data) == len(expected) and labels.tolist() == [y for _, y in expected]
        for i, (path, label) in enumerate(expected):  # written with 2 workers: order kept all the same
            img, y = data[i]
            assert y == label
            np.testing.assert_array_equal(np.asarray(img), np.asarray(default_loader(str(path))), err_msg=str(path))


def test_shuffle_covers_the_split_and_differs_by_epoch(converted):
    out, _ = converted
    dm = _datamodule(out, num_workers=0)
    loader = dm.train_dataloader()
    epochs = []
    for _ in range(2):
        batches = [x for x, _ in loader]
        assert all(x.dtype == torch.uint8 and x.shape == (BATCH, 3, SIZE, SIZE) for x in batches)  # bytes to the device
        epochs.append([int(i) for x in batches for i in x[:, 0, 0, 0]])
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(16))
    assert epochs[0] != epochs[1]


class _Seen:
    """Records the image ids of every training batch (pixel [0, 0, 0] of the first view, de-normalised)."""

    def __init__(self, mean: float, std: float) -> None:
        import lightning as L

        outer = self
        self.steps: list[list[int]] = []

        class Recorder(L.Callback):
            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                views, _ = batch
                outer.steps.append([round(float(v) * 255) for v in views[0][:, 0, 0, 0] * std + mean])

        self.callback = Recorder()


def _fit(out: Path, root: Path, max_steps: int, ckpt: Path | None = None) -> list[list[int]]:
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from sslkit.methods import SimCLR

    L.seed_everything(0, verbose=False)
    dm = _datamodule(out, num_workers=0)
    seen = _Seen(dm.mean[0], dm.std[0])
    model = SimCLR(backbone="tiny_cnn", backbone_kwargs={"widths": [4]}, proj_hidden_dim=8, proj_output_dim=4)
    trainer = L.Trainer(accelerator="cpu", max_steps=max_steps, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                        default_root_dir=root, callbacks=[seen.callback, ModelCheckpoint(
                            dirpath=root / "checkpoints", every_n_train_steps=2, save_top_k=-1)])
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt, weights_only=False)
    return seen.steps


def test_resumed_run_continues_where_it_stopped(converted, tmp_path):
    out, _ = converted
    full = _fit(out, tmp_path / "full", max_steps=8)  # 2 epochs of 4 batches
    assert len(full) == 8 and all(len(s) == BATCH for s in full)
    first, second = sum(full[:4], []), sum(full[4:], [])
    assert sorted(first) == sorted(second) == list(range(16)) and first != second
    for step in (2, 6):  # mid-epoch 0 and mid-epoch 1
        ckpt = tmp_path / "full" / "checkpoints" / f"epoch={step // 4}-step={step}.ckpt"
        resumed = _fit(out, tmp_path / f"resumed{step}", max_steps=8, ckpt=ckpt)
        assert resumed == full[step:], f"resumed from step {step}"


def test_missing_conversion_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="sslkit convert-litdata"):
        StreamingImageDataModule(str(tmp_path / "nothing"))



def test_convert_litdata_command_passes_every_flag(tmp_path, monkeypatch, capsys):
    """``sslkit convert-litdata`` (sslkit.data.commands, run by sslkit.commands) hands the flags to convert_image_folder.

    The conversion itself is tested above (the ``converted`` fixture); here the recorder checks the command wiring.
    """
    import sslkit.data.streaming as streaming
    from sslkit.cli import main

    calls = []
    monkeypatch.setattr(streaming, "convert_image_folder", lambda *a: calls.append(a) or Path(a[1]))
    main(["convert-litdata", "--root", "in/train", "--val_root", "in/val", "--out", str(tmp_path / "chunks"),
          "--test_fraction", "0.2", "--labelled", "false", "--num_workers", "3"])
    assert calls == [("in/train", str(tmp_path / "chunks"), False, "in/val", None, 0.1, 0.2, 0, "64MB", 3)]
    assert f"wrote {tmp_path / 'chunks'}/{{train,val,test}}" in capsys.readouterr().out
