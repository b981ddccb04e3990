"""Masked image modelling: predict what a mask hides (pixels: MAE, SimMIM; teacher features: data2vec)."""

from sslkit.methods.masked.data2vec import Data2Vec
from sslkit.methods.masked.mae import MAE
from sslkit.methods.masked.simmim import SimMIM

__all__ = ["MAE", "Data2Vec", "SimMIM"]
