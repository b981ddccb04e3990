"""Self-supervised methods, each a LightningModule subclass of :class:`SSLMethod`.

Families live in subpackages (``joint``, ``text``, ...); every class is
re-exported here, so ``class_path: sslkit.methods.SimCLR`` works in recipes.
:func:`all_methods` finds them all, with no hand-kept list.
"""

from sslkit.methods.base import SSLMethod, Stage
from sslkit.methods.generative import DCGAN, DDPM, VAE, Autoencoder, BiGAN, DenoisingAutoencoder
from sslkit.methods.joint import BYOL, DINO, NNCLR, BarlowTwins, MoCoV2, MoCoV3, SimCLR, SimSiam, SwAV, VICReg
from sslkit.methods.loading import load_method
from sslkit.methods.sequence import CPC, FutureFrame
from sslkit.methods.text import CausalLM, MaskedLM
from sslkit.methods.masked import MAE, Data2Vec, SimMIM
from sslkit.methods.pretext import Colorization, Jigsaw, RotNet
from sslkit.methods.text import MaskedLM


def all_methods() -> list[type[SSLMethod]]:
    """Every concrete :class:`SSLMethod` subclass defined in ``sslkit.methods``, sorted by name."""
    found, todo = set(), [SSLMethod]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("sslkit.methods.") and sub.training_loss is not SSLMethod.training_loss:
                found.add(sub)
    return sorted(found, key=lambda c: c.__name__)


__all__ = [
    "BYOL",
    "CPC",
    "CausalLM",
    "DCGAN",
    "DDPM",
    "DINO",
    "FutureFrame",
    "Data2Vec",
    "NNCLR",
    "VAE",
    "Autoencoder",
    "BarlowTwins",
    "BiGAN",
    "DenoisingAutoencoder",
    "MAE",
    "Colorization",
    "Jigsaw",
    "MaskedLM",
    "MoCoV2",
    "MoCoV3",
    "RotNet",
    "SSLMethod",
    "SimCLR",
    "SimMIM",
    "SimSiam",
    "Stage",
    "SwAV",
    "VICReg",
    "all_methods",
    "load_method",
]
