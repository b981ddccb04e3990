"""Small shared helpers: distributed gather, schedules, parameter groups, EMA encoders, queues."""

from sslkit.utils.checkpoint import load_method, package_versions, safe_load
from sslkit.utils.distributed import gather_with_grad, rank, world_size
from sslkit.utils.momentum import MomentumEncoder, cosine_tau
from sslkit.utils.optim import WarmupCosineLR, split_weight_decay
