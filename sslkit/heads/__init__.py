"""Projection, prediction and prototype heads."""

from sslkit.heads.byol import BYOLPredictionHead, BYOLProjectionHead
from sslkit.heads.dino import DINOHead
from sslkit.heads.generative import (
    ConvDecoder,
    GANGenerator,
    JointDiscriminator,
    MLPDecoder,
    PixelSpace,
    StageDecoder,
    TimestepEmbedding,
    default_decoder_widths,
)
from sslkit.heads.joint import (
    BarlowTwinsProjectionHead,
    SimSiamPredictionHead,
    SimSiamProjectionHead,
    SwAVProjectionHead,
    SwAVPrototypes,
    VICRegProjectionHead,
)
from sslkit.heads.masked import MAEDecoder, PixelShuffleDecoder, sincos_pos_embed
from sslkit.heads.moco import MoCoV2ProjectionHead, MoCoV3PredictionHead, MoCoV3ProjectionHead
from sslkit.heads.nnclr import NNCLRPredictionHead, NNCLRProjectionHead
from sslkit.heads.pretext import DenseColorHead, PretextClassifier
from sslkit.heads.projection import ProjectionHead, SimCLRProjectionHead
from sslkit.heads.sequence import FrameDecoder, RowCausalContext

__all__ = [
    "BYOLPredictionHead",
    "BYOLProjectionHead",
    "BarlowTwinsProjectionHead",
    "ConvDecoder",
    "DINOHead",
    "FrameDecoder",
    "GANGenerator",
    "JointDiscriminator",
    "MLPDecoder",
    "MAEDecoder",
    "DenseColorHead",
    "MoCoV2ProjectionHead",
    "MoCoV3PredictionHead",
    "MoCoV3ProjectionHead",
    "NNCLRPredictionHead",
    "NNCLRProjectionHead",
    "PixelSpace",
    "PixelShuffleDecoder",
    "PretextClassifier",
    "ProjectionHead",
    "RowCausalContext",
    "SimCLRProjectionHead",
    "SimSiamPredictionHead",
    "SimSiamProjectionHead",
    "StageDecoder",
    "SwAVProjectionHead",
    "SwAVPrototypes",
    "TimestepEmbedding",
    "VICRegProjectionHead",
    "default_decoder_widths",
    "sincos_pos_embed",
]
