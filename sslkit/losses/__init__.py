"""Self-supervised losses: pure torch modules, tensors in, scalar out."""

from sslkit.losses.barlow_twins import BarlowTwinsLoss
from sslkit.losses.byol import BYOLLoss
from sslkit.losses.cpc import CPCLoss, InfoNCELoss, grid_targets
from sslkit.losses.dino import DINOLoss
from sslkit.losses.generative import (
    ELBOLoss,
    ELBOTerms,
    active_units,
    discriminator_accuracy,
    discriminator_loss,
    gaussian_kl,
    generator_loss,
)
from sslkit.losses.domain import CORALLoss, GradientReversal, MMDLoss, grad_reverse
from sslkit.losses.masked import Data2VecLoss, MaskedReconstructionLoss, average_top_k, normalize_patches
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
    "CPCLoss",
    "ColorizationLoss",
    "DINOLoss",
    "ELBOLoss",
    "ELBOTerms",
    "Data2VecLoss",
    "GradientReversal",
    "InfoNCELoss",
    "MMDLoss",
    "MaskedReconstructionLoss",
    "MoCoV2Loss",
    "MoCoV3Loss",
    "NNCLRLoss",
    "NTXentLoss",
    "SimSiamLoss",
    "SwAVLoss",
    "VICRegLoss",
    "active_units",
    "discriminator_accuracy",
    "discriminator_loss",
    "gaussian_kl",
    "generator_loss",
    "average_top_k",
    "grad_reverse",
    "grid_targets",
    "nearest_neighbour",
    "normalize_patches",
    "rebalancing_weights",
]
