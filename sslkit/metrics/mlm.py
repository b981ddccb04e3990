"""Streaming masked-language-model metrics: loss, masked-token accuracy, perplexity."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric


class MaskedLMMetrics(Metric):
    """Token-averaged cross-entropy, top-1 accuracy and perplexity over masked tokens.

    Only running sums are kept (summed across processes), so an evaluation set
    of any size never holds more than one batch of logits. Call ``update`` with
    the logits of the masked positions of one batch; ``compute`` returns
    ``{"mlm_loss", "masked_acc", "perplexity"}`` with ``perplexity = exp(mlm_loss)``
    (Devlin et al., 2019, arXiv:1810.04805, report MLM accuracy; RoBERTa,
    arXiv:1907.11692, perplexity).
    """

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("loss_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("correct", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Add ``(M, V)`` logits of ``M`` masked tokens and their ``(M,)`` target ids."""
        if logits.shape[0] != targets.shape[0]:
            raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} disagree")
        logits = logits.detach().float()
        self.loss_sum += F.cross_entropy(logits, targets, reduction="sum").double()
        self.correct += (logits.argmax(-1) == targets).sum()
        self.count += targets.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.count.clamp_min(1).double()
        loss = (self.loss_sum / n).float()
        return {"mlm_loss": loss, "masked_acc": (self.correct / n).float(), "perplexity": loss.exp()}
