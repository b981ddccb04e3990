"""Self-supervised methods, each a LightningModule subclass of :class:`SSLMethod`."""

from sslkit.methods.barlow_twins import BarlowTwins
from sslkit.methods.base import SSLMethod
from sslkit.methods.simclr import SimCLR
from sslkit.methods.simsiam import SimSiam
from sslkit.methods.swav import SwAV
from sslkit.methods.vicreg import VICReg

METHODS: dict[str, type[SSLMethod]] = {
    "simclr": SimCLR,
    "simsiam": SimSiam,
    "barlow_twins": BarlowTwins,
    "vicreg": VICReg,
    "swav": SwAV,
}

__all__ = ["METHODS", "BarlowTwins", "SSLMethod", "SimCLR", "SimSiam", "SwAV", "VICReg"]
