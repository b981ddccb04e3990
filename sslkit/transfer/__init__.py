"""Transfer learning: downstream classifiers, classic heads, sweeps, cross-domain evaluation, adaptation, export."""

from sslkit.transfer.classifier import TransferClassifier
from sslkit.transfer.export import backbone_from_checkpoint, backbone_from_export, build_backbone, export_backbone

__all__ = ["TransferClassifier", "backbone_from_checkpoint", "backbone_from_export", "build_backbone", "export_backbone"]
