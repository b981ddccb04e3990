"""Self-supervised losses: pure torch modules, tensors in, scalar out."""

from sslkit.losses.byol import BYOLLoss
from sslkit.losses.dino import DINOLoss
from sslkit.losses.domain import CORALLoss, GradientReversal, MMDLoss, grad_reverse
from sslkit.losses.moco import MoCoV2Loss, MoCoV3Loss
from sslkit.losses.nnclr import NNCLRLoss, nearest_neighbour
from sslkit.losses.ntxent import NTXentLoss

__all__ = [
    "BYOLLoss",
    "CORALLoss",
    "DINOLoss",
    "GradientReversal",
    "MMDLoss",
    "MoCoV2Loss",
    "MoCoV3Loss",
    "NNCLRLoss",
    "NTXentLoss",
    "grad_reverse",
    "nearest_neighbour",
]
