"""Small shared helpers: distributed gather, schedules, parameter groups, EMA encoders, queues, Sinkhorn,
the DDPM noise schedule."""

from sslkit.utils.checkpoint import package_versions, safe_load
from sslkit.utils.diffusion import NoiseSchedule
from sslkit.utils.distributed import gather_pair, gather_rows, gather_with_grad, rank, world_size
from sslkit.utils.momentum import MomentumEncoder, cosine_tau
from sslkit.utils.optim import WarmupCosineLR, split_weight_decay
from sslkit.utils.queue import FeatureQueue
from sslkit.utils.sinkhorn import sinkhorn_knopp

__all__ = [
    "FeatureQueue",
    "MomentumEncoder",
    "NoiseSchedule",
    "WarmupCosineLR",
    "cosine_tau",
    "gather_pair",
    "gather_rows",
    "gather_with_grad",
    "package_versions",
    "rank",
    "safe_load",
    "sinkhorn_knopp",
    "split_weight_decay",
    "world_size",
]
