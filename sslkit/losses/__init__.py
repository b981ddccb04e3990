"""Self-supervised losses: pure torch modules, tensors in, scalar out."""

from sslkit.losses.barlow_twins import BarlowTwinsLoss
from sslkit.losses.byol import BYOLLoss
from sslkit.losses.dino import DINOLoss
from sslkit.losses.domain import CORALLoss, GradientReversal, MMDLoss, grad_reverse
from sslkit.losses.moco import MoCoV2Loss, MoCoV3Loss
from sslkit.losses.nnclr import NNCLRLoss, nearest_neighbour
from sslkit.losses.ntxent import NTXentLoss
from sslkit.losses.pretext import ColorizationLoss, rebalancing_weights
from sslkit.losses.simsiam import SimSiamLoss
from sslkit.losses.swav import SwAVLoss
from sslkit.losses.vicreg import VICRegLoss

__all__ = [
    "BYOLLoss",
    "BarlowTwinsLoss",
    "CORALLoss",
    "ColorizationLoss",
    "DINOLoss",
    "GradientReversal",
    "MMDLoss",
    "MoCoV2Loss",
    "MoCoV3Loss",
    "NNCLRLoss",
    "NTXentLoss",
    "SimSiamLoss",
    "SwAVLoss",
    "VICRegLoss",
    "grad_reverse",
    "nearest_neighbour",
    "rebalancing_weights",
]
