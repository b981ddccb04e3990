"""The FSDP recipes' strategies name block classes that their models are made of (in-process, no training)."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import RECIPES
from tests.utils.test_fsdp_fit import recipe_strategy


def _policy_classes(strategy) -> tuple[set[type], set[type]]:
    """The module classes of the auto-wrap and the activation-checkpointing policies."""
    wrap = strategy.kwargs["auto_wrap_policy"]._module_classes
    ckpt = strategy._activation_checkpointing_kwargs["auto_wrap_policy"]._module_classes
    return set(wrap), set(ckpt)


def _small_model(recipe: str) -> torch.nn.Module:
    from sslkit.methods import MAE, MaskedLM

    if "mae" in recipe:  # the recipe's model with a ViT-Tiny and a 2-block decoder
        return MAE(backbone="timm:vit_tiny_patch16_224", decoder_dim=32, decoder_depth=2, decoder_num_heads=2)
    return MaskedLM(backbone="bert", backbone_kwargs=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                          intermediate_size=64))


@pytest.mark.parametrize("recipe", ["pretrain/imagenet100/mae_fsdp.yaml", "pretrain/text/bert_base_mlm_fsdp.yaml"])
def test_fsdp_recipe_policies_name_the_models_blocks(recipe):
    from lightning.pytorch.strategies import FSDPStrategy
    from torch.distributed.fsdp import ShardingStrategy

    strategy = recipe_strategy(RECIPES / recipe)
    assert type(strategy) is FSDPStrategy and strategy.sharding_strategy == ShardingStrategy.FULL_SHARD
    wrap, ckpt = _policy_classes(strategy)
    assert wrap == ckpt and wrap
    model = _small_model(recipe)
    counts = {cls: sum(type(m) is cls for m in model.modules()) for cls in wrap}
    expected = {"timm.models.vision_transformer.Block": 12, "torch.nn.modules.transformer.TransformerEncoderLayer": 2,
                "transformers.models.bert.modeling_bert.BertLayer": 2}
    assert {f"{c.__module__}.{c.__qualname__}": n for c, n in counts.items()} == {
        k: v for k, v in expected.items() if ("bert" in k) == ("bert" in recipe)}
