"""Text and downstream training loaders resume mid-epoch exactly under DDP (2 gloo processes, real Lightning fits).

For each DataModule (labelled text task, ``LabelledDataModule``, ``DomainAdaptationDataModule``
with a cycling target loader) one 2-process run trains 2 epochs and saves step checkpoints;
a second run resumes from a mid-epoch checkpoint. On each rank the resumed run must
see exactly the samples the uninterrupted run saw from that step on, and end with the same
weights. Lightning's own sampler (injected into a plain shuffling DataLoader) restarts the
epoch on resume instead: the control below shows this test then fails.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from sslkit.data import LabelledDataModule, TextClassificationDataModule
from sslkit.data.downstream import DomainAdaptationDataModule

RESUME_AT = {"text": 9, "labelled": 9, "domain": 5}  # steps 9 of 12 (epoch 1); 5 of 12 (target loader cycled once)


class _Source:
    """A labelled source whose inputs are the sample ids (so a batch names its samples)."""

    def __init__(self, n: int, offset: int = 0) -> None:
        self.num_classes, self.n, self.offset = 2, n, offset

    def labelled_dataset(self, split: str, fraction: float | None = None, seed: int | None = None) -> TensorDataset:
        ids = torch.arange(self.n, dtype=torch.float32) + self.offset
        return TensorDataset(ids[:, None], (ids % 2).long())


def _ids(x) -> list[int]:
    if isinstance(x, dict):  # token ids of a text batch: a fingerprint per row
        ids = x["input_ids"].long()
        return (ids * torch.arange(1, ids.shape[1] + 1)).sum(1).tolist()
    return x[:, 0].long().tolist()


class _Recorder(L.LightningModule):
    """A linear model on a scalar per sample; records the samples of every training step."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 2)
        self.seen: list[tuple[int, list[int]]] = []

    def training_step(self, batch, batch_idx):
        if isinstance(batch, dict) and "source" in batch:
            (x, y, _), (xt, _) = batch["source"], batch["target"]
            self.seen.append((self.global_step, _ids(x) + _ids(xt)))
        else:
            x, y = batch
            self.seen.append((self.global_step, _ids(x)))
        if isinstance(x, dict):
            x = x["input_ids"].float().mean(1, keepdim=True)
        return nn.functional.cross_entropy(self.linear(x / 100), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _text_task(root: Path) -> TextClassificationDataModule:
    return TextClassificationDataModule(path=str(root / "task.csv"), batch_size=2, max_length=8, val_fraction=0.2,
                                        test_fraction=0.2, cache_dir=str(root / "cache"))


def _datamodule(kind: str, root: Path) -> L.LightningDataModule:
    if kind == "text":
        return _text_task(root)  # 24 training texts: 6 batches of 2 per rank
    if kind == "labelled":
        return LabelledDataModule(_Source(25), batch_size=2)  # 13 per rank (padded): 6 batches
    return DomainAdaptationDataModule([_Source(25)], _Source(17, offset=100), batch_size=2)  # 6 source, 4 target batches


def _fit_worker(rank: int, port: int, root: str, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank), NODE_RANK="0")  # set: Lightning joins these processes, launches none
    torch.set_num_threads(1)
    from lightning.pytorch.callbacks import ModelCheckpoint

    for kind, step in RESUME_AT.items():
        folder = Path(root) / kind
        for run in ("full", "resumed"):
            L.seed_everything(0, verbose=False)
            model = _Recorder()
            ckpt = None if run == "full" else next(folder.glob(f"*-step={step}.ckpt"))
            callbacks = [ModelCheckpoint(dirpath=folder, every_n_train_steps=step, save_top_k=-1)] if run == "full" else []
            trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, logger=False,
                                callbacks=callbacks, enable_checkpointing=run == "full", enable_progress_bar=False,
                                enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                                deterministic=True)
            trainer.fit(model, datamodule=_datamodule(kind, Path(root)), ckpt_path=ckpt)
            assert trainer.world_size == 2 and trainer.global_rank == rank
            results[(kind, run, rank)] = (model.seen, [p.detach().clone() for p in model.parameters()])


@pytest.mark.ddp
def test_text_and_downstream_loaders_resume_mid_epoch_exactly_under_ddp(tmp_path):
    import torch.multiprocessing as mp

    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    rows = [f'"{" ".join(rng.choice(words, 5))}",{"ab"[i % 2]}' for i in range(40)]
    (tmp_path / "task.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    _text_task(tmp_path).splits()  # tokenise once here: the two processes then only read the cache
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = mp.Manager().dict()
    # fork: the children reuse this process's imports (spawn would re-import torch and Lightning, ~20 s each)
    mp.start_processes(_fit_worker, args=(port, str(tmp_path), results), nprocs=2, join=True, start_method="fork")

    replayed, drifted = [], []  # every kind is checked before failing, so a failure names all that broke
    for kind, step in RESUME_AT.items():
        shards = []
        for rank in (0, 1):
            (full, full_w), (resumed, resumed_w) = results[(kind, "full", rank)], results[(kind, "resumed", rank)]
            assert [s for s, _ in full] == list(range(12)), kind  # 6 steps per epoch, 2 epochs
            if resumed != [(s, ids) for s, ids in full if s >= step]:  # the same batches from the step on, no replay
                replayed.append((kind, rank))
            if not all(torch.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(full_w, resumed_w)):
                drifted.append((kind, rank))
            shards.append({i for s, ids in full if s < 6 for i in ids[:2]})
        assert len(shards[0] & shards[1]) <= 1, kind  # the ranks draw disjoint shards (one sample pads an odd set)
    assert replayed == [] and drifted == [], f"resumed batches differ: {replayed}; final weights differ: {drifted}"


class _FirstBatch(L.LightningModule):
    """Records the first batch's sample ids of a fit (the shuffle order)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.first = nn.Linear(1, 2), None

    def training_step(self, batch, batch_idx):
        x = batch["source"][0] if isinstance(batch, dict) else batch[0]
        if self.first is None:
            self.first = x.flatten().tolist()
        return self.lin(x).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


@pytest.mark.parametrize("kind", ["labelled", "domain"])
def test_a_datamodule_reused_across_fits_shuffles_by_each_fits_seed(kind):
    """One DataModule, several fits (sslkit adapt's seeds loop): each fit's order follows its own seed_everything.
    Control: without ResumableShuffle.teardown the second fit repeats the first fit's order (the bug: sslkit adapt
    trained every seed on the first seed's order) and this test fails."""
    dm = (LabelledDataModule(_Source(64), batch_size=8) if kind == "labelled"
          else DomainAdaptationDataModule([_Source(64)], _Source(64, offset=100), batch_size=8))
    orders = []
    for seed in (0, 1, 0):
        L.seed_everything(seed, verbose=False)
        model = _FirstBatch()
        L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                  enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0).fit(model, datamodule=dm)
        orders.append(model.first)
        assert dm._shuffle_seed is None  # forgotten at teardown
    assert orders[0] != orders[1] and orders[0] == orders[2]
