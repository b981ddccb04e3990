"""An auxiliary masked-LM term for fine-tuning a text encoder: ``L = alpha * L_mlm + (1 - alpha) * L_task``.

The classic multi-task recipe of keeping the self-supervised objective during
transfer (an auxiliary language-model loss, Radford et al., 2018, section 3.2;
Chronopoulou et al., 2019, "An Embarrassingly Simple Approach for Transfer
Learning from Pretrained Language Models", arXiv:1902.10547): each training
batch is masked BERT-style (``transformers.DataCollatorForLanguageModeling``:
``mlm_probability`` of the non-special, non-padding tokens; 80% ``[MASK]``,
10% random, 10% kept) and a BERT MLM head, tied to the word embeddings, predicts
the original tokens from the backbone's per-token states.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLMAuxiliary(nn.Module):
    """Masked-LM loss of a text backbone on a classification batch.

    Args:
        backbone: an :class:`~sslkit.backbones.text.HFTextEncoder` of a bidirectional encoder
            (``hf:minilm``, ``bert``, a local BERT directory); adapters may wrap its model.
        tokenizer: source of the tokenizer of the data (its ``[MASK]`` id, special ids, vocabulary).
        mlm_probability: share of the real tokens selected for prediction.
    """

    def __init__(self, backbone: nn.Module, tokenizer: str = "hf:minilm", mlm_probability: float = 0.15) -> None:
        super().__init__()
        from transformers import DataCollatorForLanguageModeling
        from transformers.models.bert.modeling_bert import BertOnlyMLMHead

        from sslkit.backbones.text import HFTextEncoder, load_head_weights
        from sslkit.utils.hf import load_tokenizer

        if not isinstance(backbone, HFTextEncoder) or getattr(backbone.config, "is_decoder", False) \
                or backbone.config.model_type == "gpt2":
            raise TypeError("the auxiliary masked-LM term needs a bidirectional text encoder (hf:minilm, bert, "
                            f"hf:<bert dir>); got {type(backbone).__name__} "
                            f"{getattr(getattr(backbone, 'config', None), 'model_type', '')}".rstrip())
        if not 0 < mlm_probability < 1:
            raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
        tok = load_tokenizer(tokenizer)
        if len(tok) != backbone.config.vocab_size:
            raise ValueError(f"tokenizer {tokenizer!r} has {len(tok)} tokens but the backbone's vocabulary has "
                             f"{backbone.config.vocab_size}; pass the tokenizer of the data (mlm_tokenizer)")
        self.collator = DataCollatorForLanguageModeling(tok, mlm_probability=mlm_probability)
        self.register_buffer("special_ids", torch.tensor(sorted(tok.all_special_ids)), persistent=False)
        self.head = BertOnlyMLMHead(backbone.config)
        init = getattr(backbone.model, "_init_weights", None)
        if init is not None:
            self.head.apply(init)
        predictions = self.head.predictions
        predictions.decoder.weight = backbone.model.get_input_embeddings().weight  # tied, as in BERT
        nn.init.zeros_(predictions.decoder.bias)
        predictions.bias = predictions.decoder.bias
        self.loaded_head_keys = load_head_weights(self.head, backbone.source, "cls.")

    def mask(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """A masked copy of ``batch`` and the labels (original ids where selected, ``-100`` elsewhere)."""
        ids = batch["input_ids"]
        attention = batch.get("attention_mask")
        special = torch.isin(ids, self.special_ids)
        if attention is not None:
            special |= attention == 0
        masked, labels = self.collator.torch_mask_tokens(ids.detach().cpu().clone(), special.cpu())
        return {**batch, "input_ids": masked.to(ids.device)}, labels.to(ids.device)

    def forward(self, backbone: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over the selected tokens (``0`` when none was selected)."""
        masked, labels = self.mask(batch)
        hidden, _ = backbone.encode(masked)
        labels = labels[:, : hidden.shape[1]]
        sel = labels != -100
        if not bool(sel.any()):
            return hidden.sum() * 0.0
        return F.cross_entropy(self.head(hidden[sel]).float(), labels[sel])
