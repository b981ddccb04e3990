"""Self-supervised methods, each a LightningModule subclass of :class:`SSLMethod`."""

from sslkit.methods.barlow_twins import BarlowTwins
from sslkit.methods.base import SSLMethod
from sslkit.methods.byol import BYOL
from sslkit.methods.dino import DINO
from sslkit.methods.loading import load_method
from sslkit.methods.mlm import MaskedLM
from sslkit.methods.mocov2 import MoCoV2
from sslkit.methods.mocov3 import MoCoV3
from sslkit.methods.nnclr import NNCLR
from sslkit.methods.simclr import SimCLR
from sslkit.methods.simsiam import SimSiam
from sslkit.methods.swav import SwAV
from sslkit.methods.vicreg import VICReg

METHODS: dict[str, type[SSLMethod]] = {
    "simclr": SimCLR,
    "mocov2": MoCoV2,
    "mocov3": MoCoV3,
    "byol": BYOL,
    "simsiam": SimSiam,
    "barlow_twins": BarlowTwins,
    "vicreg": VICReg,
    "dino": DINO,
    "swav": SwAV,
    "nnclr": NNCLR,
    "mlm": MaskedLM,
}

__all__ = [
    "BYOL",
    "DINO",
    "METHODS",
    "NNCLR",
    "BarlowTwins",
    "MaskedLM",
    "MoCoV2",
    "MoCoV3",
    "SSLMethod",
    "SimCLR",
    "SimSiam",
    "SwAV",
    "VICReg",
    "load_method",
]
