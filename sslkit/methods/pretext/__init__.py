"""Classic pretext tasks: predict a transformation of the image (rotation, tile arrangement, colour)."""

from sslkit.methods.pretext.colorization import Colorization
from sslkit.methods.pretext.jigsaw import Jigsaw
from sslkit.methods.pretext.rotnet import RotNet

__all__ = ["Colorization", "Jigsaw", "RotNet"]
