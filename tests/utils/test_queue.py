"""FeatureQueue: FIFO order, wrap-around, fixed size, checkpointed state."""

import pytest
import torch

from sslkit.utils.queue import FeatureQueue


def _rows(*values: float) -> torch.Tensor:
    return torch.tensor([[v, -v] for v in values])


def test_fifo_order_wraparound_and_size():
    q = FeatureQueue(size=4, dim=2)
    assert q.features.shape == (4, 2)
    assert torch.allclose(q.features.norm(dim=1), torch.ones(4))  # random unit vectors to start
    q.enqueue(_rows(1, 2, 3))
    assert int(q.ptr) == 3 and int(q.num_seen) == 3
    assert torch.equal(q.features[:3], _rows(1, 2, 3))
    q.enqueue(_rows(4, 5))  # slot 3, then wraps to slot 0 (overwriting the oldest, 1)
    assert torch.equal(q.features, _rows(5, 2, 3, 4))
    assert int(q.ptr) == 1 and int(q.num_seen) == 5
    q.enqueue(_rows(6, 7, 8, 9, 10, 11))  # more than size: only the newest 4 remain
    assert q.features.shape == (4, 2)
    assert sorted(q.features[:, 0].tolist()) == [8, 9, 10, 11]
    assert int(q.num_seen) == 11


def test_contents_are_a_snapshot_and_state_is_checkpointed():
    q = FeatureQueue(size=3, dim=2)
    q.enqueue(_rows(1))
    snap = q()
    q.enqueue(_rows(2))
    assert snap[1, 0] != 2.0  # the earlier snapshot is not changed in place
    state = q.state_dict()
    assert set(state) == {"features", "ptr", "num_seen"}
    restored = FeatureQueue(size=3, dim=2)
    restored.load_state_dict(state)
    assert torch.equal(restored.features, q.features) and int(restored.ptr) == 2


def test_arguments_and_shapes_are_validated():
    with pytest.raises(ValueError):
        FeatureQueue(size=0, dim=2)
    with pytest.raises(ValueError, match="shape"):
        FeatureQueue(size=4, dim=2).enqueue(torch.zeros(3, 5))
