"""The one table of transfer strategies: every vocabulary reads it, and every classifier strategy keeps its contract."""

import typing

import pytest
import torch
from torch import nn

from sslkit.transfer import TransferClassifier
from sslkit.transfer.classifier import Strategy
from sslkit.transfer.strategies import get_strategy, list_strategies, register_strategy
from tests.transfer.test_text_peft import TinyBert, _batch  # noqa: F401  (registers test_tiny_bert)

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
ADAPTER_KWARGS = {"lora": {"r": 4, "target_modules": ["query", "value"]},
                  "ia3": {"target_modules": ["key", "value"], "feedforward_modules": []},
                  "adalora": {"init_r": 4, "target_r": 2, "target_modules": ["query", "value"], "total_step": 10},
                  "prefix_tuning": {"num_virtual_tokens": 3}, "prompt_tuning": {"num_virtual_tokens": 3}}


def test_the_vocabularies_are_the_registry():
    from sslkit.transfer import runner
    from sslkit.transfer.adapters import ADAPTERS
    from sslkit.transfer.classic import CLASSIC

    assert list(typing.get_args(Strategy)) == list_strategies(classifier=True)
    assert set(runner.CACHED) == set(list_strategies(cached=True)) == {"linear", *CLASSIC}
    assert set(runner.TRAINED) == set(list_strategies(cached=False)) and set(runner.STRATEGIES) == set(list_strategies())
    assert [s for s in list_strategies() if get_strategy(s).adapter] == list(ADAPTERS)
    with pytest.raises(ValueError, match="unknown transfer strategy 'lorra'; choose one of"):
        get_strategy("lorra")
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("lora")(lambda backbone, **_: backbone)


@pytest.mark.parametrize("strategy", list_strategies(classifier=True))
def test_every_classifier_strategy_trains_what_its_entry_says(strategy):
    spec = get_strategy(strategy)
    kwargs = {"freeze_stages": 1} if strategy == "partial" else {"layer_decay": 0.5} if strategy == "layer_decay" else {}
    model = TransferClassifier(num_classes=2, backbone="bert", backbone_kwargs=TINY, strategy=strategy,
                               adapter_kwargs=ADAPTER_KWARGS.get(strategy), **kwargs)
    backbone = {n: p.requires_grad for n, p in model.backbone.named_parameters()}
    trained = {n for n, g in backbone.items() if g}
    if spec.cached:
        assert not trained
    elif spec.adapter:
        assert trained and all(any(k in n for k in ("lora_", "ia3_", "prompt_encoder", "prefix")) for n in trained)
    elif strategy == "partial":  # embeddings (the stem) and layer 0 frozen, layer 1 trains
        assert {n for n in backbone if n not in trained} == {n for n in backbone if ".layer.1." not in n}
    else:
        assert trained == set(backbone)
    assert all(p.requires_grad for p in model.head.parameters())
    x, y = _batch()
    x["attention_mask"][:2, 6:] = 0  # padding too
    loss = model.training_step((x, y), 0)
    assert torch.isfinite(loss) and loss.requires_grad


def test_classifier_refuses_names_it_cannot_train_with_the_fix():
    with pytest.raises(ValueError, match="scikit-learn head for the sweeps"):
        TransferClassifier(num_classes=2, backbone="test_tiny_bert", strategy="knn")
    with pytest.raises(ValueError, match="needs layer_decay < 1"):
        TransferClassifier(num_classes=2, backbone="test_tiny_bert", strategy="layer_decay")
    with pytest.raises(ValueError, match="pooling applies to text backbones"):
        TransferClassifier(num_classes=2, backbone="tiny_cnn", pooling="last")


def test_runner_builds_every_trained_strategy_by_its_registry_name():
    from sslkit.transfer.runner import BackboneSource, TrainSettings, build_classifier

    source = BackboneSource("tiny", backbone="test_tiny_bert")
    ld = build_classifier("layer_decay", source, 2, TrainSettings(layer_decay=0.5))
    assert ld.hparams.strategy == "layer_decay" and ld.layer_decay == 0.5
    ia3 = build_classifier("ia3", source, 2, TrainSettings(adapter_kwargs=ADAPTER_KWARGS["ia3"]))
    assert any("ia3_" in n for n, p in ia3.named_parameters() if p.requires_grad)
