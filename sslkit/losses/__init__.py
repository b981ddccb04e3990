"""Self-supervised losses: pure torch modules, tensors in, scalar out."""

from sslkit.losses.barlow_twins import BarlowTwinsLoss
from sslkit.losses.ntxent import NTXentLoss
from sslkit.losses.simsiam import SimSiamLoss
from sslkit.losses.swav import SwAVLoss
from sslkit.losses.vicreg import VICRegLoss

__all__ = ["BarlowTwinsLoss", "NTXentLoss", "SimSiamLoss", "SwAVLoss", "VICRegLoss"]
