"""timm and torchvision backbones, with the CIFAR stem option and token-level features."""

from __future__ import annotations

import torch
from torch import nn

from sslkit.backbones.registry import register_backbone
from sslkit.backbones.stages import as_tokens, backbone_stages, stage_output


def _cifar_stem(model: nn.Module, name: str) -> None:
    """Replace a ResNet stem by a 3x3 stride-1 conv without max-pool (for 32 px images)."""
    conv = getattr(model, "conv1", None)
    if not isinstance(conv, nn.Conv2d) or not hasattr(model, "maxpool"):
        raise ValueError(f"cifar_stem=True needs a ResNet-style model with conv1 and maxpool; {name!r} has none")
    model.conv1 = nn.Conv2d(conv.in_channels, conv.out_channels, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()


class TimmBackbone(nn.Module):
    """A timm model without classifier: pooled :meth:`forward`, token-level :meth:`forward_tokens`.

    Attributes:
        num_features: width of the pooled features (timm's ``head_hidden_size``: some
            models, e.g. MobileNetV3, GhostNet, LCNet, add a conv head after pooling).
        token_features: width of the tokens (timm's ``num_features``).
        num_prefix_tokens: class / register tokens in front of the patch tokens (0 for CNNs).
        patch_size: side of a patch in pixels (vision transformers; ``None`` otherwise).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.token_features = int(model.num_features)
        self.num_features = int(getattr(model, "head_hidden_size", None) or model.num_features)
        self.channels_last_output = getattr(model, "output_fmt", "NCHW") == "NHWC"  # Swin-style (B, H, W, C) maps
        self.num_prefix_tokens = int(getattr(model, "num_prefix_tokens", 0) or 0)
        patch_embed = getattr(model, "patch_embed", None)
        size = getattr(patch_embed, "patch_size", None)
        self.patch_size = int(size[0]) if isinstance(size, (tuple, list)) else size

    @property
    def masks_inside(self) -> bool:
        """Whether :meth:`forward_tokens` can drop patches inside the encoder (ViT layout)."""
        return all(hasattr(self.model, a) for a in ("patch_embed", "_pos_embed", "norm_pre", "blocks", "norm"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Token features ``(B, num_prefix_tokens + N, token_features)`` after the final norm.

        Args:
            x: images ``(B, C, H, W)``.
            keep: optional ``(B, K)`` indices of the patches each image keeps (MAE-style
                masking inside the encoder: dropped patches never enter a block); vision
                transformers only. CNN maps come back as ``(B, H' * W', C)`` tokens.
        """
        if keep is None:
            out = self.model.forward_features(x)
            return out.flatten(1, 2) if out.ndim == 4 and self.channels_last_output else as_tokens(out)
        if not self.masks_inside:
            raise ValueError(f"{type(self.model).__name__} cannot drop patches inside the encoder (needs a timm ViT "
                             "layout); mask the input pixels instead")
        m, p = self.model, self.num_prefix_tokens
        t = m._pos_embed(m.patch_embed(x))
        patches = torch.gather(t[:, p:], 1, keep.unsqueeze(-1).expand(-1, -1, t.shape[-1]))
        return m.norm(m.blocks(m.norm_pre(torch.cat([t[:, :p], patches], dim=1))))


@register_backbone("timm", family=True)
def timm_backbone(model_name: str, cifar_stem: bool = False, checkpoint_path: str | None = None, **kwargs) -> TimmBackbone:
    """Any timm model as a feature extractor (``num_classes=0``: pooled features).

    Args:
        model_name: a name from ``timm.list_models()``.
        cifar_stem: use a 3x3 stride-1 first conv and no max-pool (ResNets).
        checkpoint_path: a local timm checkpoint to load; nothing is ever downloaded.
        **kwargs: forwarded to ``timm.create_model`` (e.g. ``in_chans``, ``drop_path_rate``,
            ``img_size`` and ``patch_size`` for small ViTs).
    """
    import timm

    if kwargs.pop("pretrained", False):
        raise ValueError("pretrained=True would download weights; pass checkpoint_path=<local file> instead")
    if model_name not in timm.list_models():
        import difflib

        close = difflib.get_close_matches(model_name, timm.list_models(), n=3)
        raise ValueError(f"unknown timm model {model_name!r}; close matches: {close}")
    model = timm.create_model(model_name, pretrained=False, num_classes=0, **kwargs)
    if cifar_stem:
        _cifar_stem(model, model_name)
    if checkpoint_path:
        timm.models.load_checkpoint(model, checkpoint_path, strict=False)
    return TimmBackbone(model)


class _TorchvisionBackbone(nn.Module):
    """A torchvision classifier with its final ``fc`` removed."""

    num_prefix_tokens = 0

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.num_features = model.fc.in_features
        model.fc = nn.Identity()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map as tokens ``(B, H' * W', C)``."""
        return as_tokens(stage_output(self, x, len(backbone_stages(self)) - 1))


@register_backbone("torchvision", family=True)
def torchvision_backbone(model_name: str, cifar_stem: bool = False, **kwargs) -> nn.Module:
    """A torchvision ResNet-style model (one with ``fc``), randomly initialised.

    Args:
        model_name: e.g. ``resnet18``, ``resnet50``, ``wide_resnet50_2``.
        cifar_stem: use a 3x3 stride-1 first conv and no max-pool.
        **kwargs: forwarded to ``torchvision.models.get_model``.
    """
    import torchvision

    if kwargs.get("weights") is not None:
        raise ValueError("torchvision weights would be downloaded; export a backbone and pass weights=<file>")
    kwargs["weights"] = None
    if model_name not in torchvision.models.list_models():
        raise ValueError(f"unknown torchvision model {model_name!r}")
    model = torchvision.models.get_model(model_name, **kwargs)
    if not isinstance(getattr(model, "fc", None), nn.Linear):
        raise ValueError(f"torchvision:{model_name} has no fc layer; use timm:{model_name} instead")
    if cifar_stem:
        _cifar_stem(model, model_name)
    return _TorchvisionBackbone(model)
