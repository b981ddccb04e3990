"""Text DataModules: token cache, corpus blocks, the docstring task, CSV/JSONL tasks, loader contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sslkit.data import BANK_LOADER, MLM_LOADER, VAL_LOADER, TextClassificationDataModule, TextPretrainDataModule
from sslkit.data import text as text_data


@pytest.fixture(scope="module")
def pretrain(tmp_path_factory):
    dm = TextPretrainDataModule(block_size=32, batch_size=8, eval_batch_size=16, max_length=32,
                                max_val_blocks=40, cache_dir=str(tmp_path_factory.mktemp("cache")))
    dm.setup("fit")
    return dm


def test_token_cache_is_keyed_by_text_and_reused(tmp_path, monkeypatch):
    texts = ["def f(): return 1", "Unbelievable tokenisation"]
    first = text_data.tokenize_cached(texts, "hf:minilm", tmp_path)
    assert len(list(tmp_path.glob("tokens-*.npz"))) == 1
    assert first["offsets"].tolist()[0] == 0 and first["offsets"][-1] == len(first["ids"])
    # "unbelievable tokenisation" -> unbelievable token ##isation: two word starts, then a continuation
    a, b = first["offsets"][1], first["offsets"][2]
    assert first["word_start"][a:b].tolist() == [True, True, False]
    monkeypatch.setattr(text_data.tokens, "load_tokenizer", lambda *a: pytest.fail("cache miss: tokenised again"))
    again = text_data.tokenize_cached(texts, "hf:minilm", tmp_path)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    monkeypatch.undo()
    text_data.tokenize_cached(texts + ["new"], "hf:minilm", tmp_path)
    assert len(list(tmp_path.glob("tokens-*.npz"))) == 2


def test_default_corpus_is_the_pydoc_topics_split_by_document(pretrain):
    docs = text_data.pydoc_topics()
    assert len(docs) > 50 and "assert" in docs[0].lower()
    splits = pretrain.corpus_splits()
    train, val = splits["train"], splits["val"]
    assert len(train) > 500 and 0 < len(val) <= 40
    item = train[0]
    assert item["input_ids"].shape == (32,) and item["input_ids"][0] == 101 and item["input_ids"][-1] == 102
    # held-out documents: no validation block occurs verbatim in the training stream
    stream = train.ids.tobytes()
    block = torch.where(val[0]["labels"] != -100, val[0]["labels"], val[0]["input_ids"])  # unmasked
    body = block[1:-1].numpy().astype(np.int32).tobytes()
    assert len(body) == 30 * 4 and body not in stream


def test_docstring_task_is_stratified_deterministic_and_labelled(pretrain):
    assert pretrain.num_classes == 8 and pretrain.class_names[0] == "asyncio"
    parts, _ = pretrain.task()
    sizes = {k: len(v[1]) for k, v in parts.items()}
    assert sizes["train"] > 600 and abs(sizes["val"] - sizes["test"]) <= 8
    for _, y in parts.values():  # every class in every split, no class above 20% of a split
        counts = np.bincount(y, minlength=8)
        assert counts.min() > 10 and counts.max() / counts.sum() < 0.2
    assert not set(parts["train"][0]) & set(parts["test"][0])
    texts, labels, names = text_data.stdlib_docstrings(max_per_class=200, seed=0, cache_dir=pretrain.cache_dir)
    assert len(texts) == sum(sizes.values()) and names == list(text_data.DOCSTRING_PACKAGES)


def test_validation_loaders_follow_the_image_contract_plus_mlm_blocks(pretrain):
    loaders = pretrain.val_dataloader()
    assert (BANK_LOADER, VAL_LOADER, MLM_LOADER) == (0, 1, 2) and len(loaders) == 3
    x, y = next(iter(loaders[VAL_LOADER]))
    assert set(x) == {"input_ids", "attention_mask"} and x["input_ids"].shape == (16, 32) and y.dtype == torch.long
    assert (x["input_ids"][:, 0] == 101).all() and (x["input_ids"][x["attention_mask"] == 0] == 0).all()
    assert len(loaders[BANK_LOADER].dataset) == len(pretrain.labelled_dataset("train"))
    mlm = next(iter(loaders[MLM_LOADER]))
    again = next(iter(pretrain.val_dataloader()[MLM_LOADER]))
    assert torch.equal(mlm["labels"], again["labels"])  # masked once, the same targets every validation
    assert 0.08 < (mlm["labels"] != -100).float().mean() < 0.22
    batch = next(iter(pretrain.train_dataloader()))
    assert batch["input_ids"].shape == (8, 32) and not any(k.startswith("probe") for k in batch)


def test_label_fraction_is_stratified_and_nested(pretrain):
    full = len(pretrain.labelled_dataset("train", fraction=1.0))
    small = pretrain.labelled_dataset("train", fraction=0.1)
    assert abs(len(small) - 0.1 * full) <= 8
    assert set(pretrain.labelled_indices(0.1)) <= set(pretrain.labelled_indices(0.3))
    assert len({y for _, y in small}) == 8


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_classification_from_user_files(tmp_path, fmt):
    rows = [{"sentence": f"{'good great fine' if i % 2 else 'bad awful poor'} film {i}", "label": "pos" if i % 2 else "neg"}
            for i in range(60)]
    path = tmp_path / f"sst.{fmt}"
    if fmt == "csv":
        path.write_text("sentence,label\n" + "".join(f"{r['sentence']},{r['label']}\n" for r in rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dm = TextClassificationDataModule(path=str(path), text_column="sentence", max_length=16, batch_size=8,
                                      label_fraction=0.5, cache_dir=str(tmp_path))
    assert dm.num_classes == 2 and dm.class_names == ["neg", "pos"]
    assert [len(dm.labelled_dataset(s)) for s in ("val", "test")] == [12, 12]
    assert len(dm.labelled_dataset("train")) == 18  # half of the 36 training texts, 9 per class
    x, y = next(iter(dm.train_dataloader()))
    assert x["input_ids"].shape == (8, 16) and set(y.tolist()) <= {0, 1}
    with pytest.raises(KeyError, match="text"):
        TextClassificationDataModule(path=str(path)).task()
