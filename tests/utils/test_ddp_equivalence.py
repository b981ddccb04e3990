"""Distributed losses equal the single-process loss of the global batch.

Two CPU processes (gloo) each get half of a fixed batch. For a loss that is
a per-process scalar, DDP optimises the *mean* of the per-process losses
(it averages gradients over processes), so we check

* ``mean_r loss_r == loss(global batch)``, and
* ``grad_r(x_r) / world_size == d loss(global batch) / d x_r``: the gradient each
  process back-propagates into its own inputs (including what flows back
  through ``gather_with_grad`` from the other processes' losses), averaged as
  DDP averages parameter gradients, equals the single-process gradient.

For an output that is per-sample (``kind="rows"``, e.g. Sinkhorn codes), the
processes' outputs concatenated must equal the single-process output.

Cases with ``rows`` give the processes different numbers of samples (an
uneven last batch): the gather must neither hang nor misplace rows. A loss
that averages over local samples then equals the global loss as the
``n_r / N``-weighted sum of the per-process losses, and each process
back-propagates its loss scaled by ``world_size * n_r / N`` (what a user does
to weight uneven batches exactly), so the averaged gradients again equal the
single-process ones.

Add a loss by appending one :class:`Case` to :data:`CASES`. All cases run in
one spawn of 2 processes (the imports dominate the runtime).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sslkit.losses import BarlowTwinsLoss, MoCoV3Loss, NTXentLoss, SwAVLoss, VICRegLoss
from sslkit.utils import sinkhorn_knopp

WORLD = 2
BATCH = 8  # global batch; each process gets BATCH // WORLD


@dataclass(frozen=True)
class Case:
    """One distributed-equivalence check.

    Args:
        name: test id.
        make: builds ``fn(*inputs) -> output`` (called inside each process and in the reference).
        shapes: shapes of the global input tensors, batch first.
        kind: ``"loss"`` (scalar: mean over processes, gradients) or ``"rows"`` (per-sample output, no gradient).
        rows: samples per process (default: an even split of ``BATCH``).
    """

    name: str
    make: Callable[[], Callable[..., torch.Tensor]]
    shapes: tuple[tuple[int, ...], ...]
    kind: str = "loss"
    rows: tuple[int, ...] = (BATCH // WORLD,) * WORLD

    def local(self, inputs: list[torch.Tensor], rank: int) -> list[torch.Tensor]:
        return [x.split(self.rows)[rank] for x in inputs]

    def weight(self, rank: int) -> float:
        """Share of the global batch held by ``rank``."""
        return self.rows[rank] / sum(self.rows)


def _swav_multicrop(s1, s2, s3):
    return SwAVLoss(temperature=0.1, sinkhorn_epsilon=0.05)([s1, s2], [s3])


CASES: list[Case] = [
    Case("ntxent", lambda: NTXentLoss(temperature=0.5), ((BATCH, 16), (BATCH, 16))),
    Case("barlow_twins", lambda: BarlowTwinsLoss(lambda_offdiag=0.1), ((BATCH, 6), (BATCH, 6))),
    Case("vicreg", lambda: VICRegLoss(), ((BATCH, 6), (BATCH, 6))),
    Case("sinkhorn_codes", lambda: lambda s: sinkhorn_knopp(s, epsilon=0.05, iterations=3), ((BATCH, 5),), "rows"),
    Case("swav_multicrop", lambda: _swav_multicrop, ((BATCH, 5),) * 3),
    Case("ntxent_uneven", lambda: NTXentLoss(temperature=0.5), ((BATCH, 16), (BATCH, 16)), rows=(5, 3)),
    Case("moco_uneven", lambda: MoCoV3Loss(temperature=0.2), ((BATCH, 16), (BATCH, 16)), rows=(5, 3)),
    Case("sinkhorn_uneven", lambda: lambda s: sinkhorn_knopp(s, epsilon=0.05, iterations=3), ((BATCH, 5),), "rows",
         rows=(5, 3)),
]


def _inputs(case: Case) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(sum(map(ord, case.name)))
    return [torch.randn(*shape, generator=g, dtype=torch.float64).float() for shape in case.shapes]


def _run(case: Case, inputs: list[torch.Tensor], scale: float = 1.0) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    xs = [x.clone().requires_grad_(case.kind == "loss") for x in inputs]
    out = case.make()(*xs)
    if case.kind == "loss":
        (out * scale).backward()
    return out.detach(), [x.grad for x in xs]


def _worker(rank: int, port: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        for case in CASES:
            out, grads = _run(case, case.local(_inputs(case), rank), scale=WORLD * case.weight(rank))
            torch.save({"out": out, "grads": grads}, Path(out_dir) / f"{case.name}-{rank}.pt")
        local = [x.chunk(WORLD)[rank] for x in _inputs(CASES[1])]  # negative control: no gather
        control = BarlowTwinsLoss(lambda_offdiag=0.1, gather_distributed=False)(*local)
        torch.save(control.detach(), Path(out_dir) / f"control-{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def distributed_results(tmp_path_factory) -> Path:
    """Run every case on 2 gloo processes once; per-rank results are saved under the returned folder."""
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return out


@pytest.mark.ddp
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_distributed_equals_single_process(case: Case, distributed_results: Path) -> None:
    ranks = [torch.load(distributed_results / f"{case.name}-{r}.pt") for r in range(WORLD)]
    ref_out, ref_grads = _run(case, _inputs(case))
    if case.kind == "rows":
        torch.testing.assert_close(torch.cat([r["out"] for r in ranks]), ref_out, rtol=1e-5, atol=1e-6)
        return
    weighted = sum(case.weight(r) * ranks[r]["out"] for r in range(WORLD))  # the mean when the split is even
    torch.testing.assert_close(weighted, ref_out, rtol=1e-5, atol=1e-6)
    for i, ref in enumerate(ref_grads):
        if ref is None:  # an input the loss treats as a constant (MoCo keys)
            continue
        dist_grad = torch.cat([r["grads"][i] for r in ranks]) / WORLD  # DDP averages over processes
        assert ref.abs().max() > 0
        torch.testing.assert_close(dist_grad, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.ddp
def test_harness_detects_per_process_batch_statistics(distributed_results: Path) -> None:
    """Negative control: Barlow Twins on per-process batches is not the global loss, and the harness sees it."""
    local_mean = torch.stack([torch.load(distributed_results / f"control-{r}.pt") for r in range(WORLD)]).mean()
    ref, _ = _run(CASES[1], _inputs(CASES[1]))
    assert not torch.allclose(local_mean, ref, rtol=1e-3)
