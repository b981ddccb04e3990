"""Self-supervised losses: pure torch modules, tensors in, scalar out."""

from sslkit.losses.byol import BYOLLoss
from sslkit.losses.dino import DINOLoss
from sslkit.losses.moco import MoCoV2Loss, MoCoV3Loss
from sslkit.losses.nnclr import NNCLRLoss, nearest_neighbour
from sslkit.losses.ntxent import NTXentLoss

__all__ = ["BYOLLoss", "DINOLoss", "MoCoV2Loss", "MoCoV3Loss", "NNCLRLoss", "NTXentLoss", "nearest_neighbour"]
