"""multicrop_forward: one pass per run of same-shape views, outputs in view order, BatchNorm statistics frozen on request."""

from __future__ import annotations

import torch
from torch import nn

from sslkit.utils.multicrop import multicrop_forward


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _views() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sizes = (16, 16, 8, 8, 8, 16)  # two global, three local, then a global again: three runs
    return [torch.randn(5, 3, s, s, generator=g) for s in sizes]


def test_one_pass_per_run_and_outputs_in_view_order():
    net, views = _net().eval(), _views()
    calls = []
    net.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    runs = multicrop_forward(net, views)
    assert [c for c, _ in runs] == [2, 3, 1] and calls == [10, 15, 5]
    by_view = torch.cat([net(v) for v in views])  # eval mode: a pass per view gives the same numbers
    torch.testing.assert_close(torch.cat([o for _, o in runs]), by_view)


def test_running_statistics_only_from_unfrozen_passes():
    views = _views()
    frozen, ref = _net().train(), _net().train()
    multicrop_forward(frozen, views, freeze_bn_stats_from=2)  # the local run and the last global run are frozen
    ref(torch.cat(views[:2]))  # only the first run updates the statistics
    torch.testing.assert_close(frozen[1].running_mean, ref[1].running_mean, rtol=0, atol=0)
    torch.testing.assert_close(frozen[1].running_var, ref[1].running_var, rtol=0, atol=0)
    assert frozen[1].momentum == 0.1  # restored after the passes
    unfrozen = _net().train()
    multicrop_forward(unfrozen, views)
    assert not torch.equal(unfrozen[1].running_mean, ref[1].running_mean)
