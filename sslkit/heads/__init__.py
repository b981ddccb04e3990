"""Projection, prediction and prototype heads."""

from sslkit.heads.joint import (
    BarlowTwinsProjectionHead,
    SimSiamPredictionHead,
    SimSiamProjectionHead,
    SwAVProjectionHead,
    SwAVPrototypes,
    VICRegProjectionHead,
)
from sslkit.heads.projection import ProjectionHead, SimCLRProjectionHead

__all__ = [
    "BarlowTwinsProjectionHead",
    "ProjectionHead",
    "SimCLRProjectionHead",
    "SimSiamPredictionHead",
    "SimSiamProjectionHead",
    "SwAVProjectionHead",
    "SwAVPrototypes",
    "VICRegProjectionHead",
]
