"""Batch fixed-length blocks for masked-LM (dynamic BERT masking) or causal-LM training."""

from __future__ import annotations

import numpy as np
import torch

from sslkit.data.text.datasets import word_offsets


class MLMCollate:
    """Stack fixed-length blocks and mask them dynamically with ``transformers``'
    :class:`~transformers.DataCollatorForLanguageModeling` (BERT's 80/10/10 rule;
    special and padding tokens are never masked; optional whole-word masking).
    With ``mlm=False`` (causal language modelling) nothing is masked: ``labels``
    are the input ids with ``-100`` at padding (the model shifts them by one).

    Args:
        tokenizer: the data's tokenizer (mask id, vocabulary size).
        mlm_probability: share of (non-special) tokens selected for prediction.
        mask_replace_prob: share of selected tokens replaced by ``[MASK]``.
        random_replace_prob: share of selected tokens replaced by a random token.
        whole_word_mask: select whole words (``transformers`` then uses ``[MASK]`` only).
        seed: seed of the masking generator (``None``: torch's global RNG).
        mlm: mask for masked-LM (``True``) or emit unmasked causal-LM blocks (``False``).
    """

    def __init__(self, tokenizer, mlm_probability: float = 0.15, mask_replace_prob: float = 0.8,
                 random_replace_prob: float = 0.1, whole_word_mask: bool = False, seed: int | None = None,
                 mlm: bool = True) -> None:
        import warnings

        from transformers import DataCollatorForLanguageModeling

        self.pad_id = tokenizer.pad_token_id
        self.collator = None
        if not mlm:
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Random token replacement is not supported.*")
            self.collator = DataCollatorForLanguageModeling(
                tokenizer, mlm=True, whole_word_mask=whole_word_mask, mlm_probability=mlm_probability,
                mask_replace_prob=mask_replace_prob, random_replace_prob=random_replace_prob, seed=seed)

    def __call__(self, items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
        stack = {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}
        special = stack.pop("special_tokens_mask")
        word_start = stack.pop("word_start")
        batch = dict(stack)
        batch["attention_mask"] = (stack["input_ids"] != self.pad_id).long()
        if self.collator is None:  # causal LM: labels = inputs, padding ignored
            batch["labels"] = stack["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        else:
            offsets = None
            if self.collator.whole_word_mask:
                offsets = torch.from_numpy(np.stack([word_offsets(w, s) for w, s in zip(word_start.numpy(),
                                                                                          special.numpy())]))
            batch["input_ids"], batch["labels"] = self.collator.torch_mask_tokens(
                stack["input_ids"].clone(), special_tokens_mask=special.long(), offset_mapping=offsets)
        return batch
