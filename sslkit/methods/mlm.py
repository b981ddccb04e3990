"""Masked language modelling (+ next-sentence prediction)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.backbones.text import HFTextEncoder, load_head_weights
from sslkit.methods.base import SSLMethod
from sslkit.metrics import MaskedLMMetrics


class MaskedLM(SSLMethod):
    """BERT pretraining (Devlin et al., 2019, "BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding", arXiv:1810.04805).

    The text backbone (``hf:<dir>``, ``hf:minilm`` or ``bert``) encodes batches
    masked by the DataModule (``DataCollatorForLanguageModeling``: 15% of tokens,
    80/10/10); ``transformers``' ``BertOnlyMLMHead``, its decoder tied to the
    word embeddings, predicts the original ids at masked positions only (the
    vocabulary-sized logits of unmasked tokens are never formed). With ``nsp``,
    a pooler (dense + tanh on ``[CLS]``) and a 2-way classifier predict whether
    segment B follows segment A: ``L = L_MLM + nsp_weight * L_NSP``.

    Features for callbacks are the backbone's pooled states (``embed``). During
    training they are computed, without gradients and in eval mode, on the
    labelled ``probe_*`` examples the DataModule adds to each batch (label
    ``-1`` pooled corpus states otherwise). Validation on corpus blocks (a dict
    batch with ``labels``) logs ``val/mlm_loss``, ``val/masked_acc`` and
    ``val/perplexity`` from running sums.

    Args:
        nsp: train the next-sentence-prediction head (batches must carry ``next_sentence_label``).
        nsp_weight: weight ``lambda`` of the NSP loss.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod` (``backbone`` must be a text backbone).
    """

    def __init__(self, nsp: bool = False, nsp_weight: float = 1.0, **kwargs) -> None:
        kwargs.setdefault("backbone", "bert")
        super().__init__(**kwargs)
        from transformers.models.bert.modeling_bert import BertOnlyMLMHead

        if not isinstance(self.backbone, HFTextEncoder):
            raise TypeError(f"MaskedLM needs a text backbone (hf:<dir>, hf:minilm, bert); got {self.backbone_name!r}")
        if nsp_weight < 0:
            raise ValueError(f"nsp_weight must be >= 0, got {nsp_weight}")
        config, width = self.backbone.config, self.num_features
        self.mlm_head = BertOnlyMLMHead(config)
        self.mlm_head.apply(self.backbone.model._init_weights)
        predictions = self.mlm_head.predictions
        predictions.decoder.weight = self.backbone.model.get_input_embeddings().weight  # tied, as in BERT
        nn.init.zeros_(predictions.decoder.bias)
        predictions.bias = predictions.decoder.bias  # one bias parameter (transformers ties them too)
        self.loaded_head_keys = load_head_weights(self.mlm_head, self.backbone.source, "cls.")
        self.nsp, self.nsp_weight = nsp, nsp_weight
        self.nsp_head = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 2)) if nsp else None
        self.val_mlm = MaskedLMMetrics()

    def mlm_logits(self, hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Vocabulary logits ``(M, V)`` and targets ``(M,)`` at the ``M`` masked positions (``labels != -100``)."""
        labels = labels[:, : hidden.shape[1]]
        sel = labels != -100
        return self.mlm_head(hidden[sel]), labels[sel]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        hidden, mask = self.backbone.encode(batch)
        logits, targets = self.mlm_logits(hidden, batch["labels"])
        n = hidden.shape[0]
        mlm_loss = F.cross_entropy(logits.float(), targets) if targets.numel() else hidden.sum() * 0.0
        loss = mlm_loss
        if self.nsp:
            if "next_sentence_label" not in batch:
                raise ValueError("MaskedLM(nsp=True) needs NSP pairs: set data.init_args.nsp: true")
            nsp_loss = F.cross_entropy(self.nsp_head(hidden[:, 0]).float(), batch["next_sentence_label"])
            loss = mlm_loss + self.nsp_weight * nsp_loss
            self.log("train/nsp_loss", nsp_loss, batch_size=n)
        elif "next_sentence_label" in batch:
            raise ValueError("the DataModule emits NSP pairs but the model has nsp=False; set model.init_args.nsp: true")
        self.log("train/mlm_loss", mlm_loss, batch_size=n)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        if "probe_labels" in batch:
            features, labels = self._probe_features(batch), batch["probe_labels"]
        else:
            features, labels = self.backbone.pool(hidden, mask), torch.full((n,), -1, device=hidden.device)
        return {"loss": loss, "features": features.detach(), "labels": labels}

    @torch.no_grad()
    def _probe_features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            return self.embed({"input_ids": batch["probe_input_ids"], "attention_mask": batch["probe_attention_mask"]})
        finally:
            self.backbone.train(was_training)

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        if isinstance(batch, dict):  # masked corpus blocks: MLM metrics; unlabelled for the callbacks
            hidden, mask = self.backbone.encode(batch)
            self.val_mlm.update(*self.mlm_logits(hidden, batch["labels"]))
            features = self.backbone.pool(hidden, mask)
            return {"features": features, "labels": torch.full((features.shape[0],), -1, device=features.device)}
        return super().validation_step(batch, batch_idx, dataloader_idx)

    test_step = SSLMethod.validation_step

    def on_validation_epoch_end(self) -> None:
        if int(self.val_mlm.count) > 0 or self.trainer.world_size > 1:
            for name, value in self.val_mlm.compute().items():
                self.log(f"val/{name}", value, add_dataloader_idx=False, sync_dist=False)
        self.val_mlm.reset()
