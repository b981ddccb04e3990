"""Self-supervised losses: pure torch modules, tensors in, scalar out."""

from sslkit.losses.domain import CORALLoss, GradientReversal, MMDLoss, grad_reverse
from sslkit.losses.ntxent import NTXentLoss

__all__ = ["CORALLoss", "GradientReversal", "MMDLoss", "NTXentLoss", "grad_reverse"]
