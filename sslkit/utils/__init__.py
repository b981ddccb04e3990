"""Small shared helpers: distributed gather, schedules, parameter groups."""

from sslkit.utils.distributed import gather_with_grad, rank, world_size
from sslkit.utils.optim import WarmupCosineLR, split_weight_decay
from sslkit.utils.sinkhorn import sinkhorn_knopp

__all__ = ["WarmupCosineLR", "gather_with_grad", "rank", "sinkhorn_knopp", "split_weight_decay", "world_size"]
