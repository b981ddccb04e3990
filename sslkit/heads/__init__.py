"""Projection, prediction and prototype heads."""

from sslkit.heads.byol import BYOLPredictionHead, BYOLProjectionHead
from sslkit.heads.dino import DINOHead
from sslkit.heads.joint import (
    BarlowTwinsProjectionHead,
    SimSiamPredictionHead,
    SimSiamProjectionHead,
    SwAVProjectionHead,
    SwAVPrototypes,
    VICRegProjectionHead,
)
from sslkit.heads.moco import MoCoV2ProjectionHead, MoCoV3PredictionHead, MoCoV3ProjectionHead
from sslkit.heads.nnclr import NNCLRPredictionHead, NNCLRProjectionHead
from sslkit.heads.pretext import DenseColorHead, PretextClassifier
from sslkit.heads.projection import ProjectionHead, SimCLRProjectionHead

__all__ = [
    "BYOLPredictionHead",
    "BYOLProjectionHead",
    "BarlowTwinsProjectionHead",
    "DINOHead",
    "DenseColorHead",
    "MoCoV2ProjectionHead",
    "MoCoV3PredictionHead",
    "MoCoV3ProjectionHead",
    "NNCLRPredictionHead",
    "NNCLRProjectionHead",
    "PretextClassifier",
    "ProjectionHead",
    "SimCLRProjectionHead",
    "SimSiamPredictionHead",
    "SimSiamProjectionHead",
    "SwAVProjectionHead",
    "SwAVPrototypes",
    "VICRegProjectionHead",
]
