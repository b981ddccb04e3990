"""Projection, prediction and prototype heads."""

from sslkit.heads.projection import ProjectionHead, SimCLRProjectionHead

__all__ = ["ProjectionHead", "SimCLRProjectionHead"]
