"""A shuffling DataLoader whose order depends only on ``(seed, epoch)`` and that resumes mid-epoch.

Lightning saves the ``state_dict`` of a training DataLoader that has one and
calls ``load_state_dict`` before iterating when a run restarts mid-epoch
(its "stateful dataloader" support). :class:`ResumableDataLoader` uses it: the
state is the epoch and the number of batches already yielded, and a restored
loader skips those batches by index (no data is read for them). Because the
order is a pure function of ``(seed, epoch)`` and no draw touches the global
RNG, a resumed run sees exactly the batches an uninterrupted run would.
:class:`ResumableShuffle` gives any DataModule these training loaders and a
checkpointed shuffle seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from sslkit.utils.distributed import rank as process_rank
from sslkit.utils.distributed import world_size


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + stream) % (2**63 - 1)


class ResumableRandomSampler(DistributedSampler):
    """A random permutation drawn from ``(seed, epoch)``, sharded over processes, optionally starting part-way through.

    On one process it yields the whole permutation. Under DDP every process
    draws the same permutation, pads it (by wrapping around) to a multiple of
    the world size and keeps every ``world_size``-th index from its rank, as
    :class:`~torch.utils.data.distributed.DistributedSampler` does; so every
    process gets the same number of samples and batches and no collective in
    a training step waits on a missing peer. Being a ``DistributedSampler``,
    Lightning keeps it instead of injecting its own, so the resume position
    survives under DDP too. The world size and rank are read from
    ``torch.distributed`` when iterating unless given.

    Args:
        data_source: the dataset.
        seed: seed of the permutations (must be equal on every process).
        epoch: epoch of the first permutation (Lightning calls :meth:`set_epoch` each epoch).
        num_replicas: number of processes (default: the world size).
        rank: this process (default: its rank).
    """

    def __init__(self, data_source: Dataset, seed: int = 0, epoch: int = 0, num_replicas: int | None = None,
                 rank: int | None = None) -> None:  # no super().__init__: it needs an initialised process group
        self.dataset = data_source
        self.seed, self.epoch, self.start = int(seed), int(epoch), 0
        self.shuffle, self.drop_last = True, False
        self._replicas, self._rank = num_replicas, rank

    @property
    def num_replicas(self) -> int:
        return self._replicas or world_size()

    @property
    def rank(self) -> int:
        return process_rank() if self._rank is None else self._rank

    @property
    def num_samples(self) -> int:
        return math.ceil(len(self.dataset) / self.num_replicas)

    @property
    def total_size(self) -> int:
        return self.num_samples * self.num_replicas

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:  # a generator: the epoch is read at the first draw
        g = torch.Generator()
        g.manual_seed(_epoch_seed(self.seed, self.epoch, 0))
        order = torch.randperm(len(self.dataset), generator=g).tolist()
        order = (order * math.ceil(self.total_size / max(len(order), 1)))[: self.total_size]
        start, self.start = self.start, 0
        yield from order[self.rank:: self.num_replicas][start:]


def eval_sampler(dataset: Dataset, trainer: Any) -> Sampler | None:
    """A sampler that splits an evaluation set over processes without repeating samples, or ``None`` on one process.

    Lightning's default :class:`~torch.utils.data.distributed.DistributedSampler`
    pads a split to a multiple of the world size by repeating samples, which
    biases metrics synced over processes (kNN accuracy, probe accuracy). This one
    gives process ``r`` samples ``r, r + W, ...``: the last batch, or the number
    of batches, may differ by one between processes, which evaluation tolerates
    (no training collective runs there).

    Args:
        dataset: the evaluation set.
        trainer: the attached Trainer (or ``None``).
    """
    if trainer is None or getattr(trainer, "world_size", 1) <= 1:
        return None
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

    return UnrepeatedDistributedSampler(dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False)


class ResumableDataLoader(DataLoader):
    """A shuffling, batch-dropping DataLoader that Lightning can resume mid-epoch.

    Args:
        dataset: the dataset.
        batch_size: samples per batch.
        seed: seed of the shuffle (and of worker base seeds).
        epoch: epoch the first iteration belongs to.
        **kwargs: other :class:`~torch.utils.data.DataLoader` arguments (``shuffle`` is implied).
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, seed: int = 0, epoch: int = 0, **kwargs: Any) -> None:
        kwargs.pop("shuffle", None)
        sampler = kwargs.pop("sampler", None) or ResumableRandomSampler(dataset, seed, epoch)
        generator = kwargs.pop("generator", None) or torch.Generator()
        kwargs.setdefault("drop_last", True)
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, generator=generator, **kwargs)
        self.seed = int(seed)
        self._batches = 0  # batches yielded in the current epoch
        self._resume_at = 0

    def __iter__(self) -> Iterator[Any]:
        epoch = getattr(self.sampler, "epoch", 0)
        self.generator.manual_seed(_epoch_seed(self.seed, epoch, 1))  # worker seeds, never the global RNG
        start, self._resume_at = self._resume_at, 0
        if isinstance(self.sampler, ResumableRandomSampler):
            self.sampler.start = start * self.batch_size
        self._batches = start
        for batch in super().__iter__():
            self._batches += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": int(getattr(self.sampler, "epoch", 0)), "batches": self._batches, "seed": self.seed}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(state_dict["epoch"])
        self.seed = int(state_dict.get("seed", self.seed))
        if isinstance(self.sampler, ResumableRandomSampler):
            self.sampler.seed = self.seed
        self._resume_at = int(state_dict["batches"])


class ResumableShuffle:
    """Mixin for a ``LightningDataModule``: resumable training loaders and a checkpointed shuffle seed.

    Every training loader built with :meth:`resumable_loader` is a
    :class:`ResumableDataLoader` whose order is a function of ``(seed, epoch)``:
    the seed is drawn once from the global RNG (so ``seed_everything`` sets it),
    broadcast from rank 0 under DDP and saved in the DataModule's state; the
    loader saves its position. Lightning keeps its ``DistributedSampler`` instead of
    injecting its own, so a mid-epoch resume is exact under DDP too.
    """

    _shuffle_seed: int | None = None

    def state_dict(self) -> dict[str, int]:
        return {} if self._shuffle_seed is None else {"shuffle_seed": self._shuffle_seed}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._shuffle_seed = state_dict.get("shuffle_seed", self._shuffle_seed)

    def teardown(self, stage: str) -> None:
        """After a fit, forget the shuffle seed: the next fit with this DataModule draws its own after its
        ``seed_everything`` (a resumed fit restores the checkpointed one). Without this, sweeps that reuse one
        DataModule across seeds (``sslkit adapt``) trained every seed on the first seed's order."""
        if stage == "fit":
            self._shuffle_seed = None
        super().teardown(stage)  # type: ignore[misc]

    def shuffle_seed(self) -> int:
        """Seed of the training shuffle: drawn from the global RNG once, equal on every process, checkpointed."""
        if self._shuffle_seed is None:
            seed = int(torch.randint(2**31 - 1, ()).item())
            trainer = getattr(self, "trainer", None)
            distributed = getattr(trainer, "world_size", 1) > 1  # every process must shard the same permutation
            self._shuffle_seed = int(trainer.strategy.broadcast(seed, src=0)) if distributed else seed
        return self._shuffle_seed

    def resumable_loader(self, dataset: Dataset, batch_size: int, stream: int = 0, **kwargs: Any) -> ResumableDataLoader:
        """A :class:`ResumableDataLoader` over ``dataset`` for the current epoch.

        Args:
            dataset: the training set.
            batch_size: samples per batch.
            stream: distinguishes several training loaders of one DataModule (their orders differ).
            **kwargs: other DataLoader arguments (``drop_last`` defaults to ``True``).
        """
        trainer = getattr(self, "trainer", None)
        epoch = trainer.current_epoch if trainer is not None else 0
        return ResumableDataLoader(dataset, batch_size, seed=self.shuffle_seed() + stream, epoch=epoch, **kwargs)
