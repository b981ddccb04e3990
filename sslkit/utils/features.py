"""Frozen feature extraction shared by linear probes, classic heads and sweeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


def to_device(x: Any, device: torch.device | str) -> Any:
    """Move a tensor or a dict of tensors (a text batch) to ``device``."""
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}
    return x


@torch.no_grad()
def extract_features(embed: Callable[[Any], torch.Tensor], dataset: Dataset, device: torch.device | str = "cpu",
                     batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``(N, D)`` (float32, CPU) and labels ``(N,)`` of a dataset of ``(input, label)`` items.

    ``embed`` is called in whatever mode its module is in; callers put it in eval mode.
    """
    feats, labels = [], []
    for x, y in DataLoader(dataset, batch_size=batch_size):
        feats.append(embed(to_device(x, device)).float().cpu())
        labels.append(torch.as_tensor(y))
    return torch.cat(feats), torch.cat(labels).long()


@torch.no_grad()
def accuracy(predict: Callable[[Any], torch.Tensor], dataset: Dataset, device: torch.device | str = "cpu",
             batch_size: int = 512) -> float:
    """Top-1 accuracy of ``predict`` (returning logits) on a dataset of ``(input, label)`` items."""
    correct = total = 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        pred = predict(to_device(x, device)).argmax(dim=1).cpu()
        correct += int((pred == torch.as_tensor(y)).sum())
        total += len(pred)
    return correct / max(total, 1)
