"""CausalLM: unmasked causal blocks, labels shifted by one (as transformers does), causality, perplexity falls."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sslkit.data import TextPretrainDataModule
from sslkit.data.text import MLMCollate
from sslkit.methods import CausalLM
from sslkit.methods.text.causal_lm import next_token_pairs
from sslkit.utils.hf import load_tokenizer

PAD = 0
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 64}


def _blocks(n: int = 4, length: int = 12) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    items = []
    for k in range(n):
        pad = k  # 0 .. n - 1 padding tokens
        ids = np.concatenate([[101], rng.integers(1000, 30000, length - 2 - pad), [102], np.full(pad, PAD)])
        items.append({"input_ids": ids.astype(np.int64), "token_type_ids": np.zeros(length, np.int64),
                      "special_tokens_mask": np.isin(ids, [101, 102, PAD]), "word_start": np.ones(length, bool)})
    return items


def test_causal_collate_keeps_inputs_and_labels_them_with_padding_ignored():
    items = _blocks()
    batch = MLMCollate(load_tokenizer("hf:minilm"), mlm=False)(items)
    ids = torch.from_numpy(np.stack([it["input_ids"] for it in items]))
    assert torch.equal(batch["input_ids"], ids)  # nothing masked or replaced
    assert torch.equal(batch["attention_mask"], (ids != PAD).long())
    assert torch.equal(batch["labels"], ids.masked_fill(ids == PAD, -100))
    assert (batch["labels"] == -100).sum() == 0 + 1 + 2 + 3


def test_next_token_pairs_shift_by_one():
    hidden = torch.arange(2 * 4, dtype=torch.float32).view(2, 4, 1)  # state value = 4 * row + position
    labels = torch.tensor([[5, 6, 7, 8], [9, 10, -100, -100]])
    states, targets = next_token_pairs(hidden, labels)
    assert targets.tolist() == [6, 7, 8, 10]  # position t predicts label t + 1; padding targets dropped
    assert states[:, 0].tolist() == [0, 1, 2, 4]


def test_loss_equals_transformers_gpt2_lm_head_with_labels_equal_inputs():
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    model = CausalLM(backbone="gpt2", backbone_kwargs=TINY).eval()
    assert model.lm_head.weight is model.backbone.model.get_input_embeddings().weight  # tied
    reference = GPT2LMHeadModel(model.backbone.config).eval()
    reference.transformer.load_state_dict(model.backbone.model.state_dict())
    reference.lm_head.weight = reference.transformer.wte.weight
    batch = MLMCollate(load_tokenizer("hf:minilm"), mlm=False)(_blocks())
    batch.pop("token_type_ids")
    with torch.no_grad():
        ours = model.training_loss(batch)["loss"]
        theirs = reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           labels=batch["labels"]).loss  # transformers shifts the labels inside
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert ours.item() == pytest.approx(math.log(30522), rel=0.05)  # about ln V at init


def test_states_never_see_later_tokens_and_bert_or_masked_batches_are_refused():
    torch.manual_seed(0)
    model = CausalLM(backbone="gpt2", backbone_kwargs=TINY).eval()
    ids = torch.randint(1000, 2000, (2, 10))
    changed = ids.clone()
    changed[:, 6:] = torch.randint(2000, 3000, (2, 4))
    with torch.no_grad():
        a = model.backbone.encode({"input_ids": ids})[0]
        b = model.backbone.encode({"input_ids": changed})[0]
    torch.testing.assert_close(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])
    masked = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.full_like(ids, -100)}
    with pytest.raises(ValueError, match="objective: causal"):
        model.training_loss(masked)
    with pytest.raises(TypeError, match="causal decoder"):
        CausalLM(backbone="bert", backbone_kwargs=TINY)
    with pytest.raises(ValueError, match="objective"):
        TextPretrainDataModule(objective="causal", nsp=True)


def test_perplexity_falls_on_a_tiny_model(tmp_path):
    dm = TextPretrainDataModule(objective="causal", block_size=32, batch_size=8,
                                max_val_blocks=32, cache_dir=str(tmp_path))
    blocks = dm.corpus_splits()
    val = {k: torch.stack([b[k] for b in blocks["val"]]) for k in blocks["val"][0]}
    assert torch.equal(val["labels"], val["input_ids"])  # unmasked validation blocks (no padding in blocks)
    torch.manual_seed(0)
    model = CausalLM(backbone="gpt2", backbone_kwargs=TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)

    def perplexity() -> float:
        model.eval()
        with torch.no_grad():
            model.validation_outputs(val)
        out = model.val_lm.compute()
        model.val_lm.reset()
        model.train()
        return float(out["perplexity"])

    before = perplexity()
    loader = iter(dm.train_dataloader())
    for _ in range(12):
        loss = model.training_loss(next(loader))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = perplexity()
    assert before > 0.5 * 30522 and after < 0.1 * before, (before, after)
