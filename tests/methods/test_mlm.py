"""MaskedLM: masking statistics, NSP pairs, streaming metrics, tiny-BERT training, MiniLM continued pretraining."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sslkit.data.text import MLMCollate, NSPPairs
from sslkit.metrics import MaskedLMMetrics
from sslkit.methods import MaskedLM
from sslkit.utils.hf import load_tokenizer
from tests.conftest import RECIPES, column, read_metrics, run_cli

CLS, SEP, PAD, MASK = 101, 102, 0, 103
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 64}


def _blocks(n: int = 512, length: int = 64, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Random word-piece blocks ``[CLS] ... [SEP] [PAD]...`` with 0-15 padding tokens each."""
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n):
        pad = int(rng.integers(0, 16))
        ids = np.concatenate([[CLS], rng.integers(1000, 30000, length - 2 - pad), [SEP], np.full(pad, PAD)])
        special = np.isin(ids, [CLS, SEP, PAD])
        word_start = ~special & (rng.random(length) < 0.5)
        word_start[1] = True
        items.append({"input_ids": ids.astype(np.int64), "token_type_ids": np.zeros(length, np.int64),
                      "special_tokens_mask": special, "word_start": word_start})
    return items


def test_dynamic_masking_statistics_follow_bert():
    items = _blocks()
    torch.manual_seed(0)
    batch = MLMCollate(load_tokenizer("hf:minilm"), mlm_probability=0.15)(items)
    orig = torch.from_numpy(np.stack([it["input_ids"] for it in items]))
    special = torch.from_numpy(np.stack([it["special_tokens_mask"] for it in items]))
    masked = batch["labels"] != -100
    assert masked.sum() > 3000  # ~0.15 * 512 * 54 tokens
    assert not masked[special].any() and torch.equal(batch["input_ids"][special], orig[special])
    assert torch.equal(batch["attention_mask"].bool(), orig != PAD)
    assert abs(masked.float().sum() / (~special).sum() - 0.15) < 0.01
    assert torch.equal(batch["labels"][masked], orig[masked])  # targets are the original ids
    assert torch.equal(batch["input_ids"][~masked], orig[~masked])  # nothing changes off the mask
    new = batch["input_ids"][masked]
    share_mask = (new == MASK).float().mean()
    share_same = (new == orig[masked]).float().mean()
    share_random = 1 - share_mask - share_same
    assert abs(share_mask - 0.8) < 0.025 and abs(share_same - 0.1) < 0.02 and abs(share_random - 0.1) < 0.02


def test_whole_word_masking_masks_every_piece_of_a_word():
    items = _blocks(n=128, seed=1)
    torch.manual_seed(0)
    batch = MLMCollate(load_tokenizer("hf:minilm"), mlm_probability=0.15, whole_word_mask=True)(items)
    masked = (batch["labels"] != -100).numpy()
    for it, row in zip(items, masked):
        word = np.cumsum(it["word_start"])
        real = ~it["special_tokens_mask"]
        for w in np.unique(word[real]):
            parts = row[real & (word == w)]
            assert parts.all() or not parts.any()
        assert not row[it["special_tokens_mask"]].any()
    share = masked.sum() / sum((~it["special_tokens_mask"]).sum() for it in items)
    assert 0.10 < share < 0.25  # words are chosen at p = 0.15, pieces follow their word
    assert (batch["input_ids"].numpy()[masked] == MASK).all()  # transformers uses [MASK] only for whole words


def _nsp_tokens() -> dict[str, np.ndarray]:
    """Four documents whose token ids encode (document, position): doc d holds 1000 * (d + 1) + position."""
    lengths = [40, 25, 60, 33]
    ids = np.concatenate([1000 * (d + 1) + np.arange(n) for d, n in enumerate(lengths)]).astype(np.int32)
    return {"ids": ids, "word_start": np.ones(len(ids), bool), "offsets": np.concatenate([[0], np.cumsum(lengths)])}


def test_nsp_pairs_are_half_true_next_segments_half_random():
    ds = NSPPairs(_nsp_tokens(), np.arange(4), block_size=23, cls_id=CLS, sep_id=SEP, pad_id=PAD)  # 10-token segments
    torch.manual_seed(0)
    labels = []
    for _ in range(100):
        for i in range(len(ds)):
            item = ds[i]
            ids, types = item["input_ids"], item["token_type_ids"]
            seps = np.flatnonzero(ids == SEP)
            a, b = ids[1:seps[0]], ids[seps[0] + 1:seps[1]]
            assert ids[0] == CLS and len(a) == 10 and (types[: seps[0] + 1] == 0).all() and (types[seps[0] + 1:seps[1] + 1] == 1).all()
            assert (ids[seps[1] + 1:] == PAD).all() and item["special_tokens_mask"][ids == PAD].all()
            same_doc = a[0] // 1000 == b[0] // 1000
            if item["next_sentence_label"] == 0:  # true next: B starts where A ends, same document
                assert same_doc and b[0] == a[-1] + 1
            else:
                assert not same_doc
            labels.append(int(item["next_sentence_label"]))
    assert len(ds) == 3 + 2 + 5 + 3 and abs(np.mean(labels) - 0.5) < 0.05


def test_masked_lm_metrics_stream_and_match_closed_form():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 0.0]])
    targets = torch.tensor([0, 2, 2, 1])
    metric = MaskedLMMetrics()
    metric.update(logits[:1], targets[:1])
    metric.update(logits[1:], targets[1:])
    out = metric.compute()
    nll = [math.log(1 + 2 * math.exp(-2)), math.log(2 + math.e) - 0, math.log(1 + 2 * math.exp(-3)), math.log(2 * math.e + 1) - 1]
    assert out["mlm_loss"].item() == pytest.approx(sum(nll) / 4, rel=1e-5)
    assert out["mlm_loss"].item() == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-5)
    assert out["masked_acc"].item() == pytest.approx(0.5)  # rows 0 and 2 right; row 3 argmax is 0
    assert out["perplexity"].item() == pytest.approx(math.exp(sum(nll) / 4), rel=1e-5)


def test_mlm_head_is_tied_and_nsp_consistency_is_checked():
    model = MaskedLM(backbone="bert", backbone_kwargs=TINY, nsp=True)
    decoder = model.mlm_head.predictions.decoder
    assert decoder.weight is model.backbone.model.get_input_embeddings().weight
    assert model.mlm_head.predictions.bias is decoder.bias
    items = _blocks(n=4, length=16)
    batch = MLMCollate(load_tokenizer("hf:minilm"))(items)
    with pytest.raises(ValueError, match="nsp: true"):
        model.training_step(batch, 0)
    batch["next_sentence_label"] = torch.tensor([0, 1, 0, 1])
    out = model.training_step(batch, 0)
    assert "features" not in out  # evaluation embeds the validation loaders' task, not training batches
    assert out["loss"] > math.log(30522) * 0.9  # ~ln(V) for the MLM part at init, plus ~ln 2 for NSP
    with pytest.raises(TypeError, match="text backbone"):
        MaskedLM(backbone="tiny_cnn")


def _run(tmp_path, recipe: str, *overrides: str) -> list[dict[str, str]]:
    run_cli("fit", "--config", str(RECIPES / "pretrain" / "text" / recipe), f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_checkpointing=false", f"--data.init_args.cache_dir={tmp_path / 'cache'}", *overrides)
    return read_metrics(tmp_path)


def test_tiny_bert_trains_and_val_perplexity_drops(tmp_path):
    rows = _run(tmp_path, "mlm_scratch.yaml", "--model.init_args.backbone_kwargs.hidden_size=32",
                "--model.init_args.backbone_kwargs.intermediate_size=64", "--trainer.max_epochs=1",
                "--trainer.limit_train_batches=24", "--trainer.val_check_interval=8", "--trainer.limit_val_batches=1",
                "--data.init_args.batch_size=16", "--data.init_args.block_size=32", "--data.init_args.max_length=32",
                "--model.init_args.optimizer.init_args.lr=0.003")
    ppl, loss = column(rows, "val/perplexity"), column(rows, "train/mlm_loss")
    assert len(ppl) == 3 and ppl[-1] < 0.7 * ppl[0] < 0.7 * 30522, (ppl, loss)
    acc = column(rows, "val/masked_acc")
    assert acc[-1] > 300 / 30522 and loss[-1] < loss[0], (acc, loss)  # far above the 1/V of a uniform guess


@pytest.mark.slow
def test_continued_minilm_pretraining_gives_a_text_probe_above_chance(tmp_path):
    rows = _run(tmp_path, "mlm_continue_minilm.yaml", "--trainer.max_steps=8", "--trainer.limit_train_batches=8",
                "--trainer.val_check_interval=8", "--trainer.limit_val_batches=2", "--data.init_args.batch_size=4",
                "--data.init_args.block_size=32", "--data.init_args.max_length=32")
    chance = 1 / 8
    assert column(rows, "knn/acc")[-1] > 3 * chance
    assert column(rows, "probe/linear_acc")[-1] > 1.5 * chance
    assert column(rows, "summary/linear_acc_ssl")[-1] > 3 * chance
    assert column(rows, "val/perplexity")[-1] < 5000  # pretrained encoder: the new MLM head learns fast


@pytest.mark.parametrize("recipe", ["mlm_scratch.yaml", "mlm_continue_minilm.yaml", "bert_base_mlm_nsp.yaml"])
def test_text_recipes_parse(recipe, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_cli("fit", "--config", str(RECIPES / "pretrain" / "text" / recipe), "--print_config")
    assert exit_.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "sslkit.methods.MaskedLM" in printed and "sslkit.data.TextPretrainDataModule" in printed
    assert "sslkit.callbacks.LinearEvalSummary" in printed
    if recipe.startswith("bert_base"):
        assert "hidden_size: 768" in printed and "nsp: true" in printed and "bf16-mixed" in printed
