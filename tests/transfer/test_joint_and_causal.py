"""Joint objective alpha * L_mlm + (1 - alpha) * L_task, and a causal LM's checkpoint taken into a classifier."""

import functools

import lightning as L
import pytest
import torch
from torch import nn

from sslkit.transfer import TransferClassifier

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)


def _batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 5000, (4, 12), generator=g)
    ids[:, 0], ids[:, 9] = 101, 102  # [CLS] ... [SEP], then padding
    ids[:, 10:] = 0
    mask = (torch.arange(12) < 10).long().expand(4, 12).clone()
    return {"input_ids": ids, "attention_mask": mask}, torch.tensor([0, 1, 0, 1])


def test_joint_loss_is_the_alpha_mix_and_masks_only_real_tokens():
    torch.manual_seed(0)
    model = TransferClassifier(num_classes=2, backbone="bert", backbone_kwargs=TINY, strategy="finetune",
                               aux_mlm_weight=0.3, mlm_probability=0.5).eval()  # eval: no dropout, RNG = masking only
    x, y = _batch()
    masked, labels = model.mlm.mask(x)
    chosen = labels != -100
    assert chosen.any() and not chosen[:, [0, 9, 10, 11]].any()  # never [CLS], [SEP] or padding
    assert torch.equal(labels[chosen], x["input_ids"][chosen])
    assert torch.equal(masked["input_ids"][~chosen], x["input_ids"][~chosen])
    torch.manual_seed(1)
    loss = model.training_step((x, y), 0)
    torch.manual_seed(1)
    task = nn.functional.cross_entropy(model(x), y)
    mlm = model.mlm(model.backbone, x)
    assert float(mlm) > 5  # a real term: about ln(30522) = 10.3 for a random model
    torch.testing.assert_close(loss, 0.3 * mlm + 0.7 * task)
    groups = {g["name"]: g for g in model.param_groups()}
    assert "mlm_head" in groups  # the head's dense + LayerNorm train; its decoder is the word embedding
    ids = [id(p) for g in groups.values() for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert model.mlm.head.predictions.decoder.weight is model.backbone.model.get_input_embeddings().weight


def test_joint_objective_refuses_what_it_cannot_train():
    with pytest.raises(TypeError, match="bidirectional text encoder"):
        TransferClassifier(num_classes=2, backbone="gpt2", backbone_kwargs=TINY, strategy="finetune", aux_mlm_weight=0.5)
    with pytest.raises(ValueError, match="not 'linear'"):
        TransferClassifier(num_classes=2, backbone="bert", backbone_kwargs=TINY, aux_mlm_weight=0.5)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        TransferClassifier(num_classes=2, backbone="bert", backbone_kwargs=TINY, strategy="finetune", aux_mlm_weight=1.0)


def test_causal_lm_checkpoint_becomes_a_last_token_classifier(tmp_path):
    """Pretrain a tiny GPT-2 a few steps, save, take the checkpoint into TransferClassifier with last-token pooling."""
    from torch.utils.data import DataLoader

    from sslkit.methods import CausalLM

    L.seed_everything(0, verbose=False)
    lm = CausalLM(backbone="gpt2", backbone_kwargs=TINY, optimizer=functools.partial(torch.optim.AdamW, lr=1e-3))
    x, y = _batch()
    blocks = [{"input_ids": i, "attention_mask": m, "labels": i.masked_fill(m == 0, -100)}
              for i, m in zip(x["input_ids"], x["attention_mask"])]
    trainer = L.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(lm, train_dataloaders=DataLoader(blocks, batch_size=2))
    ckpt = tmp_path / "lm.ckpt"
    trainer.save_checkpoint(str(ckpt))
    clf = TransferClassifier(num_classes=2, checkpoint=str(ckpt), strategy="finetune", pooling="last").eval()
    lm_state = lm.backbone.state_dict()
    assert all(torch.equal(v, lm_state[k]) for k, v in clf.backbone.state_dict().items())  # the pretrained weights
    assert clf.backbone.pooling == "last" and clf.hparams.backbone == "gpt2"
    with torch.no_grad():
        feats = clf.embed(x)
        lm.eval()
        states = lm.backbone.forward_tokens(x)
    torch.testing.assert_close(feats, states[:, 9])  # the state at [SEP], the last non-padding token
    loss = clf.train().training_step((x, y), 0)
    loss.backward()
    assert torch.isfinite(loss) and clf.backbone.model.h[0].attn.c_attn.weight.grad is not None
