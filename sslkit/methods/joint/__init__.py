"""Joint-embedding methods: two or more augmented views of an image, embedded and compared."""

from sslkit.methods.joint.barlow_twins import BarlowTwins
from sslkit.methods.joint.byol import BYOL
from sslkit.methods.joint.dino import DINO
from sslkit.methods.joint.mocov2 import MoCoV2
from sslkit.methods.joint.mocov3 import MoCoV3
from sslkit.methods.joint.nnclr import NNCLR
from sslkit.methods.joint.simclr import SimCLR
from sslkit.methods.joint.simsiam import SimSiam
from sslkit.methods.joint.swav import SwAV
from sslkit.methods.joint.vicreg import VICReg

__all__ = ["BYOL", "DINO", "NNCLR", "BarlowTwins", "MoCoV2", "MoCoV3", "SimCLR", "SimSiam", "SwAV", "VICReg"]
