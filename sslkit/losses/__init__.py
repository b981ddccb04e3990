"""Self-supervised losses: pure torch modules, tensors in, scalar out."""

from sslkit.losses.ntxent import NTXentLoss

__all__ = ["NTXentLoss"]
