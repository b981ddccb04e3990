"""Small shared helpers: distributed gather, schedules, parameter groups."""

from sslkit.utils.checkpoint import load_method, package_versions, safe_load
from sslkit.utils.distributed import gather_with_grad, rank, world_size
from sslkit.utils.optim import WarmupCosineLR, split_weight_decay

__all__ = ["WarmupCosineLR", "gather_with_grad", "load_method", "package_versions", "rank", "safe_load",
           "split_weight_decay", "world_size"]
