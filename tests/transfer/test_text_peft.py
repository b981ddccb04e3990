"""PEFT on a text backbone: a tiny BERT (hidden 32, 2 layers, built from a config, no download)."""

import pytest
import torch
from torch import nn

from sslkit.backbones import register_backbone
from sslkit.backbones.registry import _REGISTRY
from sslkit.transfer import TransferClassifier
from sslkit.transfer.freezing import backbone_stages


class TinyBert(nn.Module):
    """A registry-style text backbone: forward takes a dict batch, returns mean-pooled features."""

    def __init__(self) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)
        self.model = BertModel(cfg, add_pooling_layer=False)
        self.num_features = 32

    def forward(self, batch: dict) -> torch.Tensor:
        h = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1)


if "test_tiny_bert" not in _REGISTRY:
    register_backbone("test_tiny_bert")(TinyBert)


def _batch():
    torch.manual_seed(0)
    return {"input_ids": torch.randint(0, 100, (4, 10)), "attention_mask": torch.ones(4, 10, dtype=torch.long)}, \
        torch.tensor([0, 1, 0, 1])


def _train_step(model):
    x, y = _batch()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def test_text_backbone_stages_and_lora_on_attention():
    model = TransferClassifier(num_classes=2, backbone="test_tiny_bert", strategy="lora",
                               adapter_kwargs={"r": 4, "target_modules": ["query", "value"]})
    assert [n for n, _ in backbone_stages(TinyBert())] == ["model.encoder.layer.0", "model.encoder.layer.1"]
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in n or n.startswith("head.") for n in trainable)
    # 2 layers x (query, value) x (A: 32*4 + B: 4*32); head 32*2 + 2
    assert sum(trainable.values()) == 2 * 2 * (32 * 4 + 4 * 32) + 32 * 2 + 2
    frozen = {k: v.clone() for k, v in model.backbone.state_dict().items() if "lora_" not in k}
    _train_step(model)
    assert all(torch.equal(model.backbone.state_dict()[k], v) for k, v in frozen.items())


def test_prefix_tuning_and_adalora_are_configurable():
    prefix = TransferClassifier(num_classes=2, backbone="test_tiny_bert", strategy="prefix_tuning",
                                adapter_kwargs={"num_virtual_tokens": 5})
    trainable = {n: p.numel() for n, p in prefix.named_parameters() if p.requires_grad}
    # prefix embeddings: 5 tokens x 2 layers x (key, value) x 32; head 66
    assert sum(trainable.values()) == 5 * 2 * 2 * 32 + 66
    assert torch.isfinite(_train_step(prefix))
    ada = TransferClassifier(num_classes=2, backbone="test_tiny_bert", strategy="adalora",
                             adapter_kwargs={"init_r": 4, "target_r": 2, "target_modules": ["query", "value"],
                                             "total_step": 10})
    names = [n for n, p in ada.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or n.startswith("head.") for n in names)
    assert torch.isfinite(_train_step(ada))


def test_adalora_regulariser_equals_the_one_peft_adds_to_a_model_loss():
    """Reference: peft adds ``orth_reg_weight * regulariser`` to the loss of a model that returns one."""
    import peft
    from transformers import BertConfig, BertForSequenceClassification

    from sslkit.transfer.adapters import adalora_orth_regulariser

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     max_position_embeddings=64, num_labels=2)
    model = peft.get_peft_model(BertForSequenceClassification(cfg), peft.AdaLoraConfig(
        task_type="SEQ_CLS", init_r=4, target_r=2, target_modules=["query", "value"], total_step=10,
        orth_reg_weight=0.7)).eval()
    x, y = _batch()
    with_reg = model(**x, labels=y).loss
    model.peft_config["default"].orth_reg_weight = 0.0
    without = model(**x, labels=y).loss
    model.peft_config["default"].orth_reg_weight = 0.7
    ours = adalora_orth_regulariser(model)
    assert float(with_reg - without) > 1e-3  # a real term (A, B start random, far from orthogonal)
    torch.testing.assert_close(ours, with_reg - without, rtol=1e-5, atol=1e-6)
    assert adalora_orth_regulariser(TinyBert()) is None


def test_adalora_training_loss_includes_the_orthogonality_regulariser():
    from sslkit.transfer.adapters import adalora_orth_regulariser

    model = TransferClassifier(num_classes=2, backbone="test_tiny_bert", strategy="adalora",
                               adapter_kwargs={"init_r": 4, "target_r": 2, "target_modules": ["query", "value"],
                                               "total_step": 10, "orth_reg_weight": 0.5}).eval()
    x, y = _batch()
    loss = model.training_step((x, y), 0)
    reg = adalora_orth_regulariser(model.backbone)
    assert reg is not None and reg.requires_grad and float(reg) > 1e-3
    torch.testing.assert_close(loss, nn.functional.cross_entropy(model(x), y) + reg)
    loss.backward()  # the regulariser's gradient reaches the adapter matrices
    assert all(p.grad is not None for n, p in model.named_parameters() if "lora_A" in n)


@pytest.mark.parametrize("strategy,adapter_kwargs", [
    ("lora", {"r": 4, "target_modules": ["query", "value"]}),  # injected into the backbone's layers
    ("lora", {"r": 4}),  # peft's default targets: the BertModel is wrapped in a PeftModel
    ("adalora", {"init_r": 4, "target_r": 2, "target_modules": ["query", "value"], "total_step": 10}),
])
def test_export_merges_adapters_of_a_text_backbone(tmp_path, strategy, adapter_kwargs):
    from tests.transfer.test_export import adapted_checkpoint, export_and_compare

    ckpt = tmp_path / "adapted.ckpt"
    model = adapted_checkpoint(ckpt, backbone="test_tiny_bert", strategy=strategy, adapter_kwargs=adapter_kwargs)
    x, _ = _batch()
    x["attention_mask"][:, 7:] = 0  # padding too
    export_and_compare(tmp_path, model, ckpt, x, "test_tiny_bert", {})


def test_export_refuses_prompt_learning_with_the_reason(tmp_path, monkeypatch):
    from sslkit.cli import main
    from tests.transfer.test_export import adapted_checkpoint

    monkeypatch.setenv("SSLKIT_DEBUG", "1")
    ckpt = tmp_path / "prefix.ckpt"
    adapted_checkpoint(ckpt, backbone="test_tiny_bert", strategy="prefix_tuning", adapter_kwargs={"num_virtual_tokens": 3})
    with pytest.raises(ValueError, match="virtual tokens that cannot be folded"):
        main(["export", "--ckpt", str(ckpt), "--out", str(tmp_path / "b.safetensors")])


def _fit_adalora(steps: int, **adapter_kwargs):
    import lightning as L
    from torch.utils.data import DataLoader

    from sslkit.transfer.adapters import adalora_ranks

    L.seed_everything(0, verbose=False)
    model = TransferClassifier(num_classes=2, backbone="test_tiny_bert", strategy="adalora",
                               adapter_kwargs={"init_r": 4, "target_r": 1, "target_modules": ["query", "value"],
                                               "tinit": 1, "tfinal": 2, **adapter_kwargs})
    assert adalora_ranks(model.backbone) and set(adalora_ranks(model.backbone).values()) == {0}  # lora_E starts at 0
    g = torch.Generator().manual_seed(0)
    items = [({"input_ids": torch.randint(0, 100, (10,), generator=g), "attention_mask": torch.ones(10, dtype=torch.long)},
              i % 2) for i in range(32)]
    trainer = L.Trainer(max_steps=steps, max_epochs=-1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, train_dataloaders=DataLoader(items, batch_size=4))
    return model, adalora_ranks(model.backbone)


def test_adalora_reallocates_ranks_to_the_target_budget_over_the_run(monkeypatch):
    """4 adapted layers x init_r 4 = 16 singular values; after the run the budget is target_r x 4 = 4, unevenly spread."""
    import sslkit.transfer.classifier as classifier

    model, ranks = _fit_adalora(8)  # total_step not given: set to the run's 8 optimizer steps
    config = next(m for m in model.backbone.modules() if hasattr(m, "peft_config")).peft_config["default"]
    assert config.total_step == 8 and config.rank_pattern is not None
    assert len(ranks) == 4 and sum(ranks.values()) == 4, ranks
    assert min(ranks.values()) < 4 and sum(r == 0 for r in ranks.values()) >= 1  # some layers pruned entirely...
    assert max(ranks.values()) >= 2  # ...and the budget went to others: reallocated, not cut evenly
    monkeypatch.setattr(classifier, "adalora_step", lambda backbone, step: None)  # control: no reallocation
    _, kept = _fit_adalora(8)
    assert set(kept.values()) == {4}


def test_adalora_schedule_without_room_to_reallocate_is_refused():
    with pytest.raises(ValueError, match="tinit < total_step - tfinal"):
        _fit_adalora(3)
