"""Weighted k-nearest-neighbour classification of frozen features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


def knn_predict(query: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, num_classes: int,
                k: int = 20, temperature: float = 0.07, chunk_size: int = 1024) -> torch.Tensor:
    """Predict classes by a similarity-weighted vote of the ``k`` nearest bank features.

    Cosine similarity; each neighbour votes with weight ``exp(sim / temperature)``
    (Wu et al., 2018, "Unsupervised Feature Learning via Non-Parametric
    Instance Discrimination", arXiv:1805.01978; as used by DINO and solo-learn).

    Args:
        query: ``(Q, D)`` features to classify.
        bank: ``(N, D)`` reference features.
        bank_labels: ``(N,)`` integer labels of the bank.
        num_classes: number of classes.
        k: neighbours (capped at ``N``).
        temperature: vote temperature.
        chunk_size: queries per similarity block, bounding memory to ``chunk_size * N``.

    Returns:
        ``(Q,)`` predicted labels.
    """
    bank = F.normalize(bank.float(), dim=1)
    k = min(k, bank.shape[0])
    preds = []
    for q in F.normalize(query.float(), dim=1).split(chunk_size):
        sim, idx = (q @ bank.T).topk(k, dim=1)
        votes = torch.zeros(q.shape[0], num_classes, device=q.device)
        votes.scatter_add_(1, bank_labels[idx], (sim / temperature).exp())
        preds.append(votes.argmax(dim=1))
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long, device=query.device)


def _rows(state: list[torch.Tensor] | torch.Tensor) -> int:
    return sum(t.shape[0] for t in state) if isinstance(state, list) else state.shape[0]


class KNNAccuracy(Metric):
    """Top-1 accuracy of :func:`knn_predict`, with the bank and queries gathered across processes.

    Call ``update(features, labels, bank=True)`` for reference samples and
    ``update(features, labels)`` for queries; ``compute()`` classifies every
    query against the whole (synchronised) bank.

    Args:
        num_classes: number of classes.
        k: neighbours.
        temperature: vote temperature.
        max_bank: cap on bank samples kept (the first ones seen).
    """

    full_state_update = False

    def __init__(self, num_classes: int, k: int = 20, temperature: float = 0.07, max_bank: int = 50000) -> None:
        super().__init__()
        if num_classes < 2 or k < 1 or temperature <= 0:
            raise ValueError("KNNAccuracy needs num_classes >= 2, k >= 1 and temperature > 0")
        self.num_classes, self.k, self.temperature, self.max_bank = num_classes, k, temperature, max_bank
        for name in ("bank_feats", "bank_labels", "query_feats", "query_labels"):
            self.add_state(name, default=[], dist_reduce_fx="cat")
        self._bank_count = 0

    def update(self, features: torch.Tensor, labels: torch.Tensor, bank: bool = False) -> None:
        keep = labels >= 0
        features, labels = features[keep].detach().float(), labels[keep]
        if bank:
            room = self.max_bank - self._bank_count
            features, labels = features[:room], labels[:room]
            self._bank_count += features.shape[0]
            self.bank_feats.append(features)
            self.bank_labels.append(labels)
        else:
            self.query_feats.append(features)
            self.query_labels.append(labels)

    def compute(self) -> torch.Tensor:
        # a state is a list of per-batch tensors, or one tensor once torchmetrics has synced it across processes
        if _rows(self.bank_feats) == 0 or _rows(self.query_feats) == 0:
            return torch.tensor(float("nan"))
        bank, bank_y = dim_zero_cat(self.bank_feats), dim_zero_cat(self.bank_labels)
        query, query_y = dim_zero_cat(self.query_feats), dim_zero_cat(self.query_labels)
        pred = knn_predict(query, bank, bank_y, self.num_classes, self.k, self.temperature)
        return (pred == query_y).float().mean()

    def reset(self) -> None:
        super().reset()
        self._bank_count = 0
