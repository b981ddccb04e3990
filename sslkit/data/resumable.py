"""A shuffling DataLoader whose order depends only on ``(seed, epoch)`` and that resumes mid-epoch.

Lightning saves the ``state_dict`` of a training DataLoader that has one and
calls ``load_state_dict`` before iterating when a run restarts mid-epoch
(its "stateful dataloader" support). :class:`ResumableDataLoader` uses it: the
state is the epoch and the number of batches already yielded, and a restored
loader skips those batches by index (no data is read for them). Because the
order is a pure function of ``(seed, epoch)`` and no draw touches the global
RNG, a resumed run sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + stream) % (2**63 - 1)


class ResumableRandomSampler(RandomSampler):
    """A random permutation drawn from ``(seed, epoch)``, optionally starting part-way through.

    It subclasses :class:`~torch.utils.data.RandomSampler` so that Lightning's
    distributed-sampler injection still shuffles under DDP.

    Args:
        data_source: the dataset.
        seed: seed of the permutations.
        epoch: epoch of the first permutation (Lightning calls :meth:`set_epoch` each epoch).
    """

    def __init__(self, data_source: Dataset, seed: int = 0, epoch: int = 0) -> None:
        super().__init__(data_source)
        self.seed, self.epoch, self.start = int(seed), int(epoch), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:  # a generator: the epoch is read at the first draw
        g = torch.Generator()
        g.manual_seed(_epoch_seed(self.seed, self.epoch, 0))
        order = torch.randperm(len(self.data_source), generator=g).tolist()
        start, self.start = self.start, 0
        yield from order[start:]


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
