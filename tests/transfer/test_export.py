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
