"""Backbones by name: ``create_backbone("tiny_cnn")``, ``create_backbone("timm:resnet18", cifar_stem=True)``."""

from sslkit.backbones import cnn, mlp, text, vision  # noqa: F401  (registers the entries)
from sslkit.backbones.cnn import TinyCNN
from sslkit.backbones.mlp import MLPBackbone
from sslkit.backbones.registry import create_backbone, list_backbones, load_backbone_weights, register_backbone
from sslkit.backbones.text import HFTextEncoder

__all__ = ["HFTextEncoder", "MLPBackbone", "TinyCNN", "create_backbone", "list_backbones", "load_backbone_weights",
           "register_backbone"]
