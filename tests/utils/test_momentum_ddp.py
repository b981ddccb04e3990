"""Two gloo processes: the queue holds every rank's keys, the DINO centre averages every rank's teacher rows,
and MoCo v3 with gathered keys equals the single-process loss on the global batch."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.ddp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        from sslkit.losses import DINOLoss, MoCoV3Loss
        from sslkit.utils.queue import FeatureQueue

        q = FeatureQueue(size=8, dim=2)
        q.enqueue(torch.full((2, 2), float(rank + 1)))
        dino = DINOLoss(out_dim=2, center_momentum=0.0)
        dino.update_center(torch.full((3, 2), float(rank)))  # rank 0: zeros, rank 1: ones -> mean 0.5
        torch.manual_seed(0)
        qs, ks = torch.randn(8, 4), torch.randn(8, 4)
        local = MoCoV3Loss(0.5)(qs[rank * 4:(rank + 1) * 4], ks[rank * 4:(rank + 1) * 4])
        results[rank] = (q.features[:4].clone(), int(q.ptr), dino.center.clone(), float(local))
    finally:
        dist.destroy_process_group()


def test_queue_centre_and_gather_across_two_ranks():
    from sslkit.losses import MoCoV3Loss

    results = mp.Manager().dict()
    mp.spawn(_worker, args=(_free_port(), results), nprocs=2, join=True)
    expected_rows = torch.tensor([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0], [2.0, 2.0]])
    for rank in (0, 1):
        feats, ptr, centre, _ = results[rank]
        assert torch.equal(feats, expected_rows) and ptr == 4  # rank 0's keys first, then rank 1's
        assert torch.allclose(centre, torch.tensor([[0.5, 0.5]]))
    torch.manual_seed(0)
    qs, ks = torch.randn(8, 4), torch.randn(8, 4)
    full = MoCoV3Loss(0.5, gather_distributed=False)(qs, ks).item()
    assert (results[0][3] + results[1][3]) / 2 == pytest.approx(full, abs=1e-5)
