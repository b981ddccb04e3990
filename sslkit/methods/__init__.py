"""Self-supervised methods, each a LightningModule subclass of :class:`SSLMethod`."""

from sslkit.methods.base import SSLMethod
from sslkit.methods.simclr import SimCLR

METHODS: dict[str, type[SSLMethod]] = {"simclr": SimCLR}

__all__ = ["METHODS", "SSLMethod", "SimCLR"]
