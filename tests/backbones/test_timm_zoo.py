"""The backbone contract across the timm zoo: one small member of each of 22 families, at 32 px.

For each: the pooled output width equals ``num_features``; ``forward_tokens`` gives ``(B, prefix + N,
token_features)``; ``cifar_stem=True`` is honoured (ResNet-style stems: stride 1, no max-pool) or refused with a
message naming the option; a SimCLR training step runs and moves the backbone.
Unsupported at 32 px, documented in docs/backbones.md: ``inception_v3`` (needs >= 75 px).
"""

from __future__ import annotations

import pytest
import torch

from sslkit.backbones import create_backbone
from sslkit.methods import SimCLR

# family -> (timm name, extra kwargs); transformers and fixed-grid models get img_size=32
ZOO = {
    "ResNet": ("resnet18", {}),
    "ResNet-D": ("resnet18d", {}),
    "ResNeXt": ("resnext26ts", {}),
    "SE-ResNet": ("seresnet18", {}),
    "RegNet": ("regnetx_002", {}),
    "ConvNeXt": ("convnext_atto", {}),
    "EfficientNet": ("efficientnet_b0", {}),
    "MobileNetV2": ("mobilenetv2_050", {}),
    "MobileNetV3": ("mobilenetv3_small_050", {}),
    "GhostNet": ("ghostnet_050", {}),
    "DenseNet": ("densenet121", {}),
    "ViT": ("vit_tiny_patch16_224", {"img_size": 32, "patch_size": 8}),
    "DeiT": ("deit_tiny_patch16_224", {"img_size": 32, "patch_size": 8}),
    "Swin": ("swin_tiny_patch4_window7_224", {"img_size": 32}),
    "MaxViT": ("maxvit_tiny_tf_224", {"img_size": 32}),
    "CoAtNet": ("coatnet_nano_rw_224", {"img_size": 32}),
    "EVA": ("eva02_tiny_patch14_224", {"img_size": 32}),
    "RepVGG": ("repvgg_a0", {}),
    "PoolFormer": ("poolformer_s12", {}),
    "PVTv2": ("pvt_v2_b0", {}),
    "MLP-Mixer": ("mixer_s16_224", {"img_size": 32}),
    "LeViT": ("levit_128s", {"img_size": 32}),
}


@pytest.mark.parametrize("family", list(ZOO))
def test_timm_family(family: str) -> None:
    name, kwargs = ZOO[family]
    torch.manual_seed(0)
    model = create_backbone(f"timm:{name}", **kwargs).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        pooled, tokens = model(x), model.forward_tokens(x)
    assert pooled.shape == (2, model.num_features)
    assert tokens.ndim == 3 and tokens.shape[0] == 2 and tokens.shape[2] == model.token_features
    assert tokens.shape[1] > model.num_prefix_tokens

    try:
        stem = create_backbone(f"timm:{name}", cifar_stem=True, **kwargs).model
    except ValueError as err:
        assert "cifar_stem=True needs a ResNet-style model" in str(err)
    else:
        assert stem.conv1.stride == (1, 1) and isinstance(stem.maxpool, torch.nn.Identity)

    method = SimCLR(backbone=f"timm:{name}", backbone_kwargs=kwargs, proj_hidden_dim=32, proj_output_dim=16)
    before = [p.detach().clone() for p in method.backbone.parameters()]
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1)
    loss = method.training_loss([torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)])["loss"]
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, method.backbone.parameters()))


def test_zoo_covers_twenty_families() -> None:
    assert len(ZOO) >= 20 and len({name for name, _ in ZOO.values()}) == len(ZOO)
