"""Export/load round trip of a backbone, and the errors of a mismatched pair."""

import json

import pytest
import torch

from sslkit.cli import main
from sslkit.backbones import create_backbone
from sslkit.transfer import backbone_from_checkpoint, backbone_from_export


def _fake_ckpt(path, widths=(8, 16)):
    torch.manual_seed(3)
    bb = create_backbone("tiny_cnn", widths=list(widths))
    bb.stages[0][1].running_mean.normal_()  # non-default buffers must survive too
    state = {f"backbone.{k}": v for k, v in bb.state_dict().items()}
    state["projector.weight"] = torch.zeros(2, 2)
    torch.save({"state_dict": state, "hyper_parameters": {"backbone": "tiny_cnn", "backbone_kwargs": {"widths": list(widths)}}}, path)
    return bb.eval()


def test_export_round_trip_gives_identical_embeddings(tmp_path):
    ckpt = tmp_path / "last.ckpt"
    original = _fake_ckpt(ckpt)
    out = tmp_path / "export" / "backbone.safetensors"
    main(["export", "--ckpt", str(ckpt), "--out", str(out)])
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["backbone"] == "tiny_cnn" and meta["backbone_kwargs"] == {"widths": [8, 16]} and meta["num_features"] == 16
    x = torch.randn(5, 3, 16, 16)
    for loaded in (backbone_from_export(out), create_backbone("tiny_cnn", weights=out, widths=[8, 16]),
                   backbone_from_checkpoint(ckpt)):
        assert torch.equal(loaded.eval()(x), original(x))


def test_wrong_json_or_weights_fail(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLKIT_DEBUG", "1")  # the original exceptions, not the CLI's one-line message
    ckpt = tmp_path / "last.ckpt"
    _fake_ckpt(ckpt)
    out = tmp_path / "b.safetensors"
    main(["export", "--ckpt", str(ckpt), "--out", str(out)])
    meta = json.loads(out.with_suffix(".json").read_text())
    out.with_suffix(".json").write_text(json.dumps({**meta, "backbone_kwargs": {"widths": [8, 32]}}))
    with pytest.raises((ValueError, RuntimeError), match="size mismatch|do not match"):
        backbone_from_export(out)
    out.with_suffix(".json").write_text(json.dumps({**meta, "backbone_kwargs": {"widths": [8, 16, 32]}}))
    with pytest.raises(ValueError, match="missing keys"):
        backbone_from_export(out)
    out.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="json"):
        backbone_from_export(out)
    with pytest.raises(ValueError, match="safetensors"):
        main(["export", "--ckpt", str(ckpt), "--out", str(tmp_path / "b.pt")])


def adapted_checkpoint(path, **kwargs):
    """A TransferClassifier checkpoint with peft adapters whose weights are moved off their identity init."""
    from sslkit.transfer import TransferClassifier

    torch.manual_seed(0)
    model = TransferClassifier(num_classes=2, **kwargs)
    with torch.no_grad():
        for name, p in model.backbone.named_parameters():
            if any(m in name for m in ("lora_", "ia3_")):
                p.add_(0.3 * torch.randn_like(p))  # LoRA's B, AdaLoRA's E start at 0, IA3 at 1: merged = base
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, path)
    return model.eval()


def export_and_compare(tmp_path, model, ckpt, x, name, backbone_kwargs):
    """Export ``ckpt``; the file loads strictly into the plain backbone and reproduces the adapted one."""
    from safetensors.torch import load_file

    out = tmp_path / "merged.safetensors"
    main(["export", "--ckpt", str(ckpt), "--out", str(out)])
    state = load_file(str(out))
    assert not any(m in k for k in state for m in ("lora_", "ia3_", "base_layer", "base_model"))
    plain = create_backbone(name, **backbone_kwargs)
    plain.load_state_dict(state, strict=True)
    with torch.no_grad():
        adapted, merged = model.backbone(x), plain.eval()(x)
        torch.testing.assert_close(merged, adapted, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(backbone_from_export(out).eval()(x), adapted, rtol=1e-4, atol=1e-5)
    return plain


@pytest.mark.parametrize("strategy", ["lora", "ia3"])
def test_export_merges_adapters_of_a_conv_backbone(tmp_path, strategy):
    ckpt = tmp_path / "adapted.ckpt"
    kwargs = {"widths": [8, 16]}
    model = adapted_checkpoint(ckpt, backbone="tiny_cnn", backbone_kwargs=kwargs, strategy=strategy,
                               adapter_kwargs={"r": 2, "lora_alpha": 4} if strategy == "lora" else {})
    x = torch.randn(4, 3, 16, 16)
    plain = export_and_compare(tmp_path, model, ckpt, x, "tiny_cnn", kwargs)
    frozen = {k[len("backbone."):]: v for k, v in model.state_dict().items() if k.startswith("backbone.")}
    base = {k.replace("base_layer.", ""): v for k, v in frozen.items() if not any(m in k for m in ("lora_", "ia3_"))}
    changed = [k for k, v in plain.state_dict().items() if not torch.equal(v, base[k])]
    assert changed and all(k.endswith("weight") for k in changed)  # the adapters were folded into conv/linear weights
