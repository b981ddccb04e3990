"""Train-and-score one (backbone, strategy, label subset) combination; shared by the sweep commands.

Strategies on frozen features (``linear`` and the classic heads) extract the
features of a whole split once per backbone and slice label subsets from the
cache; the others (``finetune``, ``partial``, ``layer_decay``, the peft adapters) train a
:class:`~sslkit.transfer.TransferClassifier` with a short Lightning run. The names
and which kind each is come from :mod:`sslkit.transfer.strategies`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from sslkit.data.contracts import LabelledData, implements
from sslkit.metrics.linear import CLASSIC, fit_score, score, train_linear_head
from sslkit.transfer.export import build_backbone
from sslkit.transfer.strategies import get_strategy, list_strategies
from sslkit.utils.features import accuracy, extract_features

CACHED: tuple[str, ...] = tuple(list_strategies(cached=True))
TRAINED: tuple[str, ...] = tuple(list_strategies(cached=False))
STRATEGIES: tuple[str, ...] = CACHED + TRAINED


@dataclass
class BackboneSource:
    """Where a backbone comes from (see :func:`~sslkit.transfer.build_backbone`).

    Args:
        label: name in tables and plots (e.g. ``simclr``, ``random_init``).
        backbone: registry name (used when neither file is given).
        backbone_kwargs: its builder arguments.
        checkpoint: pretraining ``.ckpt``.
        weights: exported ``.safetensors``.
        init_seed: seed of a random initialisation.
    """

    label: str
    backbone: str = "tiny_cnn"
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    weights: str | None = None
    init_seed: int = 0

    def check(self) -> None:
        """Fail before any training when the checkpoint or weights file is missing, naming the backbone."""
        for kind, path in (("checkpoint", self.checkpoint), ("weights", self.weights)):
            if path is not None and not Path(path).is_file():
                raise FileNotFoundError(f"backbone {self.label!r}: {kind} {path} not found; pretrain or export it first "
                                        "(a transfer recipe's header gives the commands) or fix the path")

    def build(self) -> nn.Module:
        torch.manual_seed(self.init_seed)
        return build_backbone(self.backbone, self.backbone_kwargs, self.checkpoint, self.weights)[0]

    def classifier_args(self) -> dict[str, Any]:
        return dict(backbone=self.backbone, backbone_kwargs=self.backbone_kwargs, checkpoint=self.checkpoint,
                    weights=self.weights)


def check_backbones(backbones: list[BackboneSource]) -> None:
    """Distinct labels and existing files, checked before any training (a sweep must not fail an hour in)."""
    labels = [b.label for b in backbones]
    if len(set(labels)) < len(labels):
        raise ValueError(f"backbone labels repeat ({labels}); give each backbone its own label")
    for b in backbones:
        b.check()


@dataclass
class TrainSettings:
    """Settings of the trained strategies and of the cached linear head.

    Args:
        max_steps: optimizer steps of a trained strategy (whatever the label fraction).
        batch_size: training batch size.
        lr: head learning rate (AdamW).
        weight_decay: AdamW weight decay.
        freeze_stages: stages frozen by ``partial``.
        layer_decay: decay of ``layer_decay``.
        adapter_kwargs: peft config of the adapter strategies (``lora`` by default).
        linear_steps: full-batch AdamW steps of the cached ``linear`` head.
        linear_lr: its learning rate.
        accelerator: Lightning accelerator of the trained strategies.
    """

    max_steps: int = 150
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    freeze_stages: int = 1
    layer_decay: float = 0.6
    adapter_kwargs: dict[str, Any] = field(default_factory=lambda: {"r": 4, "lora_alpha": 8})
    linear_steps: int = 300
    linear_lr: float = 1e-2
    accelerator: str = "cpu"


class FeatureCache:
    """Features of whole datasets, computed once per (backbone label, dataset name)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._store: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
        self._backbones: dict[str, nn.Module] = {}

    def get(self, source: BackboneSource, name: str, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        key = (source.label, name)
        if key not in self._store:
            if source.label not in self._backbones:
                self._backbones[source.label] = source.build().to(self.device).eval()
            self._store[key] = extract_features(self._backbones[source.label], dataset, self.device)
        return self._store[key]


def subset_positions(datamodule: LabelledData, fraction: float, seed: int) -> np.ndarray | None:
    """Positions of the ``fraction``/``seed`` label subset inside the full labelled train set, if computable."""
    if not implements(datamodule, "labelled_indices"):
        return None
    full = datamodule.labelled_indices(1.0, 0)
    return np.searchsorted(full, datamodule.labelled_indices(fraction, seed))


def run_cached(strategy: str, source: BackboneSource, datamodule: LabelledData, fraction: float, seed: int,
               eval_sets: dict[str, Dataset], cache: FeatureCache, settings: TrainSettings,
               domain: str = "default") -> dict[str, float]:
    """Score a frozen-feature strategy; the train features are sliced from the cached full train split."""
    pos = subset_positions(datamodule, fraction, seed)
    if pos is None:  # no index access: extract the subset itself
        ds = datamodule.labelled_dataset("train", fraction=fraction, seed=seed)
        xtr, ytr = cache.get(source, f"{domain}/train@{fraction}/{seed}", ds)
    else:
        xtr, ytr = cache.get(source, f"{domain}/train", datamodule.labelled_dataset("train", fraction=1.0, seed=0))
        xtr, ytr = xtr[pos], ytr[pos]
    tests = {k: cache.get(source, k, ds) for k, ds in eval_sets.items()}
    if strategy == "linear":
        head = train_linear_head(xtr, ytr, int(datamodule.num_classes), settings.linear_steps, settings.linear_lr,
                                 settings.weight_decay, seed)
        return score(head, tests)
    return fit_score(strategy, (xtr.numpy(), ytr.numpy()), {k: (x.numpy(), y.numpy()) for k, (x, y) in tests.items()},
                     seed=seed)


def build_classifier(strategy: str, source: BackboneSource, num_classes: int, settings: TrainSettings):
    """The :class:`~sslkit.transfer.TransferClassifier` of a trained strategy."""
    from sslkit.transfer.classifier import TransferClassifier

    extra: dict[str, Any] = {"strategy": strategy}
    if strategy == "partial":
        extra["freeze_stages"] = settings.freeze_stages
    elif strategy == "layer_decay":
        extra["layer_decay"] = settings.layer_decay
    elif get_strategy(strategy).adapter:
        extra["adapter_kwargs"] = settings.adapter_kwargs
    torch.manual_seed(source.init_seed)
    opt = functools.partial(torch.optim.AdamW, lr=settings.lr, weight_decay=settings.weight_decay)
    return TransferClassifier(num_classes=num_classes, optimizer=opt, **source.classifier_args(), **extra)


def run_trained(strategy: str, source: BackboneSource, datamodule: Any, fraction: float, seed: int,
                eval_sets: dict[str, Dataset], settings: TrainSettings) -> dict[str, float]:
    """Train a :class:`~sslkit.transfer.TransferClassifier` on the label subset and score it."""
    from sslkit.data.downstream import LabelledDataModule

    model = build_classifier(strategy, source, int(datamodule.num_classes), settings)
    L.seed_everything(seed, verbose=False)
    dm = LabelledDataModule(datamodule, label_fraction=fraction, seed=seed, batch_size=settings.batch_size)
    trainer = L.Trainer(max_steps=settings.max_steps, max_epochs=-1, accelerator=settings.accelerator, devices=1,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    model.eval()
    return {k: accuracy(model, ds, model.device) for k, ds in eval_sets.items()}


def run_strategy(strategy: str, source: BackboneSource, datamodule: Any, fraction: float, seed: int,
                 eval_sets: dict[str, Dataset], cache: FeatureCache, settings: TrainSettings,
                 domain: str = "default") -> dict[str, float]:
    """Accuracy on every ``eval_sets`` entry after training ``strategy`` on ``fraction`` of the labels."""
    if strategy in CACHED:
        return run_cached(strategy, source, datamodule, fraction, seed, eval_sets, cache, settings, domain)
    if strategy in TRAINED:
        return run_trained(strategy, source, datamodule, fraction, seed, eval_sets, settings)
    raise ValueError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")
