import pytest
import torch
from safetensors.torch import save_file

from sslkit.backbones import create_backbone, list_backbones
from sslkit.backbones.text import HFTextEncoder

# every registered entry, plus representative members of each family
CASES = [(name, {}) for name in list_backbones() if ":" not in name] + [
    ("timm:resnet18", {"cifar_stem": True}),
    ("timm:resnet18", {}),
    ("torchvision:resnet18", {"cifar_stem": True}),
    ("timm:vit_tiny_patch16_224", {"img_size": 32, "patch_size": 8}),
]


def example_input(model):
    """A batch of the backbone's modality: token ids for text encoders, images otherwise."""
    if isinstance(model, HFTextEncoder):
        ids = torch.randint(5, model.config.vocab_size, (2, 12))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    return torch.randn(2, 3, 32, 32)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}{'-' + '-'.join(k) if k else ''}" for n, k in CASES])
def test_backbone_contract(name, kwargs):
    model = create_backbone(name, **kwargs).eval()
    assert isinstance(model.num_features, int) and model.num_features > 0
    with torch.no_grad():
        out = model(example_input(model))
    assert out.shape == (2, model.num_features)
    assert torch.isfinite(out).all()


def test_cifar_stem_keeps_resolution():
    plain, cifar = create_backbone("timm:resnet18").model, create_backbone("timm:resnet18", cifar_stem=True).model
    assert plain.conv1.stride == (2, 2) and cifar.conv1.stride == (1, 1) and cifar.conv1.kernel_size == (3, 3)
    assert isinstance(cifar.maxpool, torch.nn.Identity)
    with pytest.raises(ValueError, match="cifar_stem"):
        create_backbone("timm:vit_tiny_patch16_224", cifar_stem=True)


def test_listing_and_families():
    names = list_backbones()
    assert "tiny_cnn" in names and "timm:*" in names and "torchvision:*" in names
    assert list_backbones("tiny*") == ["tiny_cnn"]


def test_unknown_names_suggest_the_closest():
    with pytest.raises(ValueError, match=r"Did you mean 'tiny_cnn'"):
        create_backbone("tiny_cn")
    with pytest.raises(ValueError, match="resnet18"):
        create_backbone("timm:resnet81")
    with pytest.raises(TypeError):
        create_backbone("tiny_cnn", width=(8,))  # misspelt keyword is an error, never ignored


def test_no_download_paths():
    with pytest.raises(ValueError, match="download"):
        create_backbone("timm:resnet18", pretrained=True)


def test_weights_round_trip_and_strictness(tmp_path):
    src = create_backbone("tiny_cnn", widths=(8, 16)).eval()
    path = tmp_path / "backbone.safetensors"
    save_file(src.state_dict(), str(path))
    dst = create_backbone("tiny_cnn", widths=(8, 16), weights=path).eval()
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="missing keys|unexpected keys"):
        create_backbone("tiny_cnn", widths=(8, 16, 32), weights=path)
    pickle_file = tmp_path / "backbone.pt"
    pickle_file.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="safetensors"):
        create_backbone("tiny_cnn", weights=pickle_file)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}{'-' + '-'.join(k) if k else ''}" for n, k in CASES])
def test_token_features(name, kwargs):
    """forward_tokens gives (B, prefix + N, num_features); for CNNs the pooled output is the mean token."""
    model = create_backbone(name, **kwargs).eval()
    x = example_input(model)
    with torch.no_grad():
        tokens, pooled = model.forward_tokens(x), model(x)
    assert tokens.ndim == 3 and tokens.shape[0] == 2
    assert tokens.shape[2] == getattr(model, "token_features", model.num_features)
    assert tokens.shape[1] > model.num_prefix_tokens >= 0
    if not isinstance(model, HFTextEncoder) and model.num_prefix_tokens == 0:
        torch.testing.assert_close(pooled, tokens.mean(1), atol=1e-5, rtol=1e-4)


def test_vit_drops_masked_patches_inside_the_encoder():
    model = create_backbone("timm:vit_tiny_patch16_224", img_size=32, patch_size=8).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        full = model.forward_tokens(x)
        assert full.shape == (2, 1 + 16, 192) and model.patch_size == 8
        torch.testing.assert_close(model.forward_tokens(x, keep=torch.arange(16).expand(2, 16)), full)
        keep = torch.stack([torch.randperm(16)[:4] for _ in range(2)])
        assert model.forward_tokens(x, keep=keep).shape == (2, 1 + 4, 192)
    with pytest.raises(ValueError, match="cannot drop patches"):
        create_backbone("timm:resnet18").forward_tokens(x, keep=keep)


def test_stage_features_read_one_stage_and_stop():
    from sslkit.backbones.stages import stage_features, stage_width

    model = create_backbone("tiny_cnn", widths=[4, 8, 16]).eval()
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        by_hand = model.stages[1](model.stages[0](x)).mean(dim=(2, 3))
        torch.testing.assert_close(stage_features(model, x, 1), by_hand)
        torch.testing.assert_close(stage_features(model, x, -1), model(x))
    assert [stage_width(model, i) for i in range(3)] == [4, 8, 16]
    assert stage_width(create_backbone("timm:resnet18"), 1) == 128
    with pytest.raises(ValueError, match="3 stages"):
        stage_features(model, x, 3)
