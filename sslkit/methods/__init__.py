"""Self-supervised methods, each a LightningModule subclass of :class:`SSLMethod`."""

from sslkit.methods.base import SSLMethod
from sslkit.methods.mlm import MaskedLM
from sslkit.methods.simclr import SimCLR

METHODS: dict[str, type[SSLMethod]] = {"mlm": MaskedLM, "simclr": SimCLR}

__all__ = ["METHODS", "MaskedLM", "SSLMethod", "SimCLR"]
