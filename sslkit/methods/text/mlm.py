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
    segment B follows segment A: ``L = L_MLM + nsp_weight * L_NSP``. Logs
    ``train/loss``, ``train/mlm_loss`` and ``train/nsp_loss``.

    Features for callbacks are the backbone's pooled states (``embed``) of the
    validation loaders' labelled task (the bank and val splits). Validation on corpus blocks (a dict
    batch with ``labels``) logs ``val/mlm_loss``, ``val/masked_acc`` and
    ``val/perplexity`` from running sums.

    Args:
        nsp: train the next-sentence-prediction head (batches must carry ``next_sentence_label``).
        nsp_weight: weight ``lambda`` of the NSP loss.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod` (``backbone`` must be a text backbone).
    """

    inputs = "tokens"

    def __init__(self, nsp: bool = False, nsp_weight: float = 1.0, **kwargs) -> None:
        kwargs.setdefault("backbone", "bert")
        super().__init__(**kwargs)
        from transformers.models.bert.modeling_bert import BertOnlyMLMHead

        if not isinstance(self.backbone, HFTextEncoder):
            raise TypeError(f"MaskedLM needs a text backbone (hf:<dir>, hf:minilm, bert); got {self.backbone_name!r}")
        if nsp_weight < 0:
            raise ValueError(f"nsp_weight must be >= 0, got {nsp_weight}")
        config, width = self.backbone.config, self.backbone.num_features
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

    def training_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden, mask = self.backbone.encode(batch)
        logits, targets = self.mlm_logits(hidden, batch["labels"])
        mlm_loss = F.cross_entropy(logits.float(), targets) if targets.numel() else hidden.sum() * 0.0
        out = {"loss": mlm_loss, "mlm_loss": mlm_loss}
        if self.nsp:
            if "next_sentence_label" not in batch:
                raise ValueError("MaskedLM(nsp=True) needs NSP pairs: set data.init_args.nsp: true")
            out["nsp_loss"] = F.cross_entropy(self.nsp_head(hidden[:, 0]).float(), batch["next_sentence_label"])
            out["loss"] = mlm_loss + self.nsp_weight * out["nsp_loss"]
        elif "next_sentence_label" in batch:
            raise ValueError("the DataModule emits NSP pairs but the model has nsp=False; set model.init_args.nsp: true")
        return out

    def validation_outputs(self, inputs: Any) -> dict[str, torch.Tensor]:
        if isinstance(inputs, dict) and "labels" in inputs:  # masked corpus blocks: MLM metrics, unlabelled features
            hidden, mask = self.backbone.encode(inputs)
            self.val_mlm.update(*self.mlm_logits(hidden, inputs["labels"]))
            return {"features": self.backbone.pool(hidden, mask)}
        return super().validation_outputs(inputs)

    def validation_metrics(self) -> MaskedLMMetrics:
        return self.val_mlm  # logged by the base as val/mlm_loss, val/masked_acc, val/perplexity
