"""Causal (next-token) language modelling."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.backbones.text import HFTextEncoder
from sslkit.methods.base import SSLMethod
from sslkit.metrics import MaskedLMMetrics


def next_token_pairs(hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """States ``(M, D)`` and their targets ``(M,)``: the state at position ``t`` predicts ``labels[t + 1]``.

    ``labels`` are the unshifted inputs (``-100`` at padding), as ``transformers``
    takes them; positions whose next label is ``-100`` (and the last one) are dropped.
    """
    labels = labels[:, : hidden.shape[1]]
    states, targets = hidden[:, :-1], labels[:, 1:]
    keep = targets != -100
    return states[keep], targets[keep]


class CausalLM(SSLMethod):
    """GPT-style causal language modelling (Radford et al., 2018, "Improving
    Language Understanding by Generative Pre-Training"; Radford et al., 2019,
    "Language Models are Unsupervised Multitask Learners").

    A decoder backbone (``gpt2``: a small GPT-2 from a config, or any causal
    ``hf:<dir>`` model) reads unmasked blocks (``TextPretrainDataModule`` with
    ``objective: causal``); a linear head, tied to the word embeddings as in
    GPT-2, predicts token ``t + 1`` from the state at ``t``. The labels arrive
    unshifted (``labels = input_ids``, ``-100`` at padding, the ``transformers``
    convention) and are shifted here (:func:`next_token_pairs`); vocabulary
    logits are formed only where a target exists. Logs ``train/loss``
    (= ``train/lm_loss``).

    Features for callbacks are the backbone's mean-pooled states (``embed``) of
    the validation loaders' labelled task (the bank and val splits).
    Validation on corpus blocks logs ``val/lm_loss``, ``val/next_token_acc`` and
    ``val/perplexity`` (``exp`` of the token-averaged loss) from running sums.

    Args:
        tie_embeddings: share the output layer's weight with the input word embeddings.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod` (``backbone`` must be a causal text backbone).
    """

    inputs = "tokens"
    val_metric_names = {"mlm_loss": "lm_loss", "masked_acc": "next_token_acc"}

    def __init__(self, tie_embeddings: bool = True, **kwargs) -> None:
        kwargs.setdefault("backbone", "gpt2")
        super().__init__(**kwargs)
        if not isinstance(self.backbone, HFTextEncoder):
            raise TypeError(f"CausalLM needs a text backbone (gpt2, hf:<dir>); got {self.backbone_name!r}")
        if self.backbone.config.model_type == "bert" and not self.backbone.config.is_decoder:
            raise TypeError("CausalLM needs a causal decoder (e.g. backbone: gpt2); a bidirectional BERT encoder "
                            "sees the tokens it must predict")
        embeddings = self.backbone.model.get_input_embeddings()
        self.lm_head = nn.Linear(self.backbone.num_features, embeddings.num_embeddings, bias=False)
        if tie_embeddings:
            self.lm_head.weight = embeddings.weight
        self.val_lm = MaskedLMMetrics()

    def lm_logits(self, hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Vocabulary logits ``(M, V)`` and targets ``(M,)`` of the ``M`` next-token predictions."""
        states, targets = next_token_pairs(hidden, labels)
        return self.lm_head(states), targets

    @staticmethod
    def check_unmasked(batch: dict[str, torch.Tensor]) -> None:
        """Masked-LM batches (labels ``-100`` on real tokens) are an error: the inputs would hide the targets."""
        mask = batch.get("attention_mask")
        if mask is not None and bool(((batch["labels"] == -100) & (mask == 1)).any()):
            raise ValueError("CausalLM got masked-LM batches; set data.init_args.objective: causal")

    def training_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "labels" not in batch:
            raise ValueError("CausalLM needs labels (= input_ids); use TextPretrainDataModule with objective: causal")
        self.check_unmasked(batch)
        hidden, mask = self.backbone.encode(batch)
        logits, targets = self.lm_logits(hidden, batch["labels"])
        loss = F.cross_entropy(logits.float(), targets) if targets.numel() else hidden.sum() * 0.0
        out = {"loss": loss, "lm_loss": loss}
        return out

    def validation_outputs(self, inputs: Any) -> dict[str, torch.Tensor]:
        if isinstance(inputs, dict) and "labels" in inputs:  # corpus blocks: next-token metrics, unlabelled features
            self.check_unmasked(inputs)
            hidden, mask = self.backbone.encode(inputs)
            self.val_lm.update(*self.lm_logits(hidden, inputs["labels"]))
            return {"features": self.backbone.pool(hidden, mask)}
        return super().validation_outputs(inputs)

    def validation_metrics(self) -> MaskedLMMetrics:
        return self.val_lm  # logged by the base as val/lm_loss, val/next_token_acc, val/perplexity
