"""TransferClassifier: a backbone plus a linear head, trained on a labelled downstream task."""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from sslkit.transfer.adapters import adalora_orth_regulariser, adalora_set_total_step, adalora_step
from sslkit.transfer.export import build_backbone
from sslkit.transfer.freezing import frozen_norm_layers, layer_decay_groups
from sslkit.transfer.strategies import get_strategy
from sslkit.utils.optim import optimizer_config

# the classifier strategies of sslkit.transfer.strategies (a test keeps the two equal)
Strategy = Literal["linear", "finetune", "partial", "layer_decay", "lora", "ia3", "adalora", "prefix_tuning",
                   "prompt_tuning"]


class TransferClassifier(L.LightningModule):
    """Transfer a backbone to a labelled task with one of several strategies.

    * ``linear``: frozen backbone (eval mode) + linear head. When the DataModule
      offers ``use_features`` and applies no training augmentation, features are
      extracted once in :meth:`setup` and the head trains on the cached features.
    * ``finetune``: everything trains; ``layer_decay < 1`` gives layer-wise
      learning-rate decay and ``backbone_lr_scale`` a discriminative backbone rate.
    * ``layer_decay``: ``finetune`` that requires ``layer_decay < 1``.
    * ``partial``: the stem and the first ``freeze_stages`` stages are frozen, and
      their BatchNorm layers stay in eval mode (running statistics unchanged)
      although Lightning calls ``train()`` every epoch.
    * ``lora`` / ``ia3`` / ``adalora`` / ``prefix_tuning`` / ``prompt_tuning``: the
      backbone is frozen and ``peft`` adapters train with the head
      (see :mod:`sslkit.transfer.adapters`).

    Each name is an entry of :mod:`sslkit.transfer.strategies` (how the backbone is set up).
    ``aux_mlm_weight = alpha > 0`` trains ``alpha * L_mlm + (1 - alpha) * L_task`` with a
    masked-LM head on the text encoder (:class:`~sslkit.transfer.joint.MLMAuxiliary`).

    The backbone comes from ``checkpoint`` (a pretraining ``.ckpt``), else
    ``weights`` (an exported ``.safetensors`` with its JSON), else the registry
    name ``backbone`` with ``backbone_kwargs`` (random init or a local timm/HF model).
    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc`` (per epoch: the key for
    ``ModelCheckpoint(monitor="val/acc", mode="max")``), ``test/acc`` (and, for
    ``adalora``, ``train/orth_reg``, the orthogonality regulariser added to the training loss;
    with ``aux_mlm_weight``, ``train/task_loss`` and ``train/mlm_loss``).

    Args:
        num_classes: classes of the task (linked from the DataModule by the CLI).
        backbone: registry name, used when no file is given.
        backbone_kwargs: builder arguments of ``backbone``.
        checkpoint: pretraining checkpoint to take the backbone from.
        weights: exported backbone to load.
        strategy: see above.
        freeze_stages: for ``partial``: frozen stages (plus the stem).
        layer_decay: per-stage learning-rate decay factor, in ``(0, 1]``.
        backbone_lr_scale: backbone learning rate as a fraction of the head's.
        adapter_kwargs: arguments of the peft config (``r``, ``lora_alpha``, ``target_modules``, ...); for
            ``adalora`` without ``total_step``, the run's optimizer steps are used.
        head_norm: standardise features with a non-affine BatchNorm before the head (MAE-style probe;
            cumulative running statistics, tiny eps: random-init features can be very small).
        head_dropout: dropout before the head.
        label_smoothing: cross-entropy label smoothing.
        cache_features: allow cached features for ``linear``.
        pooling: for a text backbone, replace its pooling: ``mean``, ``cls`` or ``last`` (the last
            non-padding token: GPT-style transfer of a causal LM); ``None`` keeps the backbone's.
        aux_mlm_weight: ``alpha`` of the joint objective (``0``: task loss only).
        mlm_probability: share of tokens masked for the auxiliary term.
        mlm_tokenizer: tokenizer of the data (for ``[MASK]`` and random replacements).
        optimizer: optimizer callable (receives parameter groups).
        lr_scheduler: optional scheduler callable; ``WarmupCosineLR`` is stepped per step.
    """

    def __init__(
        self,
        num_classes: int = 0,
        backbone: str = "tiny_cnn",
        backbone_kwargs: dict[str, Any] | None = None,
        checkpoint: str | None = None,
        weights: str | None = None,
        strategy: Strategy = "linear",
        freeze_stages: int = 0,
        layer_decay: float = 1.0,
        backbone_lr_scale: float = 1.0,
        adapter_kwargs: dict[str, Any] | None = None,
        head_norm: bool = True,
        head_dropout: float = 0.0,
        label_smoothing: float = 0.0,
        cache_features: bool = True,
        pooling: Literal["mean", "cls", "last"] | None = None,
        aux_mlm_weight: float = 0.0,
        mlm_probability: float = 0.15,
        mlm_tokenizer: str = "hf:minilm",
        optimizer: OptimizerCallable = torch.optim.AdamW,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (the CLI links it from data.num_classes), got {num_classes}")
        spec = get_strategy(strategy)
        if not spec.classifier:
            raise ValueError(f"strategy {strategy!r} is a scikit-learn head for the sweeps, not a TransferClassifier "
                             f"strategy")
        if strategy != "partial" and freeze_stages:
            raise ValueError("freeze_stages applies to strategy 'partial' only")
        if strategy == "layer_decay" and not layer_decay < 1:
            raise ValueError(f"strategy 'layer_decay' needs layer_decay < 1 (e.g. 0.65), got {layer_decay}")
        if not 0 <= aux_mlm_weight < 1:
            raise ValueError(f"aux_mlm_weight (alpha of alpha * L_mlm + (1 - alpha) * L_task) must be in [0, 1), "
                             f"got {aux_mlm_weight}")
        if aux_mlm_weight and spec.cached:
            raise ValueError("aux_mlm_weight needs a strategy that trains the backbone, not 'linear'")
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler"])
        self.backbone, name, kwargs = build_backbone(backbone, backbone_kwargs, checkpoint, weights)
        self.hparams.update(backbone=name, backbone_kwargs=kwargs)  # the resolved source, for `sslkit export`
        if pooling is not None:
            if not hasattr(self.backbone, "pooling"):
                raise ValueError(f"pooling applies to text backbones (hf:<dir>, bert, gpt2); {name!r} has none")
            from sslkit.backbones.text import POOLINGS

            if pooling not in POOLINGS:
                raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
            self.backbone.pooling = pooling
        self.aux_mlm_weight = aux_mlm_weight
        self._adalora_auto_steps = strategy == "adalora" and "total_step" not in (adapter_kwargs or {})
        self.mlm = None
        if aux_mlm_weight:
            from sslkit.transfer.joint import MLMAuxiliary

            self.mlm = MLMAuxiliary(self.backbone, mlm_tokenizer, mlm_probability)
        self.strategy, self.layer_decay, self.backbone_lr_scale = strategy, layer_decay, backbone_lr_scale
        self.cache_features = cache_features
        self.num_classes = num_classes
        d = self.backbone.num_features
        self.head = nn.Sequential(nn.BatchNorm1d(d, affine=False, eps=1e-12, momentum=None) if head_norm else nn.Identity(),
                                  nn.Dropout(head_dropout), nn.Linear(d, num_classes))
        self.label_smoothing = label_smoothing
        self.backbone = spec.setup(self.backbone, freeze_stages=freeze_stages, adapter_kwargs=adapter_kwargs)
        layer_decay_groups(self.backbone, self.head, layer_decay, backbone_lr_scale)  # validates early
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        self.train_acc, self.val_acc, self.test_acc = (MulticlassAccuracy(num_classes, average="micro") for _ in range(3))
        self._cached = False
        self.train()  # frozen parts start in eval mode (Lightning does not call train() before fitting)

    @property
    def num_features(self) -> int:
        return self.backbone.num_features

    def embed(self, x: Any) -> torch.Tensor:
        """Backbone features ``(B, D)``."""
        return self.backbone(x)

    def forward(self, x: Any) -> torch.Tensor:
        """Class logits; ``x`` is an input batch, or cached features when features are cached."""
        return self.head(self._features(x))

    def _features(self, x: Any) -> torch.Tensor:
        if self._cached and isinstance(x, torch.Tensor) and x.ndim == 2 and x.shape[1] == self.num_features:
            return x
        if self.strategy == "linear":
            with torch.no_grad():
                return self.backbone(x)
        return self.backbone(x)

    def train(self, mode: bool = True) -> TransferClassifier:
        """Switch modes, but keep the frozen backbone (linear) and frozen BatchNorm layers in eval mode."""
        super().train(mode)
        if mode:
            for m in [self.backbone] if self.strategy == "linear" else frozen_norm_layers(self.backbone):
                m.eval()
        return self

    def on_train_start(self) -> None:
        self.train()

    def on_fit_start(self) -> None:
        if self._adalora_auto_steps:  # AdaLoRA's rank budget schedule spans the whole run
            adalora_set_total_step(self.backbone, int(self.trainer.estimated_stepping_batches))

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if self.strategy == "linear" and self.cache_features and dm is not None and hasattr(dm, "use_features"):
            device = self.trainer.strategy.root_device
            was = next(self.backbone.parameters()).device
            self.backbone.to(device).eval()
            self._cached = bool(dm.use_features(self.embed, device))
            self.backbone.to(was)

    def _step(self, batch: Any, metric: MulticlassAccuracy, prefix: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        metric(logits, y)
        self.log(f"{prefix}/loss", loss, prog_bar=prefix == "train", batch_size=y.shape[0])
        self.log(f"{prefix}/acc", metric, prog_bar=prefix != "train", batch_size=y.shape[0])
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, self.train_acc, "train")
        if self.mlm is not None:
            mlm_loss = self.mlm(self.backbone, batch[0])
            n = batch[1].shape[0]
            self.log_dict({"train/task_loss": loss, "train/mlm_loss": mlm_loss}, batch_size=n)
            loss = self.aux_mlm_weight * mlm_loss + (1 - self.aux_mlm_weight) * loss
        if self.strategy == "adalora":  # peft adds it only to a loss the wrapped model returns itself
            reg = adalora_orth_regulariser(self.backbone)
            if reg is not None:
                self.log("train/orth_reg", reg, batch_size=batch[1].shape[0])
                loss = loss + reg
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, self.val_acc, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, self.test_acc, "test")

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.strategy == "adalora":
            adalora_step(self.backbone, self.global_step)

    def param_groups(self) -> list[dict]:
        """Trainable parameter groups, each with its ``lr_scale`` (see :func:`layer_decay_groups`)."""
        groups = layer_decay_groups(self.backbone, self.head, self.layer_decay, self.backbone_lr_scale)
        if self.mlm is not None:  # the MLM head's own parameters (its decoder weight is the backbone's embedding)
            seen = {id(p) for g in groups for p in g["params"]}
            own = [p for p in self.mlm.parameters() if p.requires_grad and id(p) not in seen]
            groups.append({"params": own, "lr_scale": 1.0, "name": "mlm_head"})
        return groups

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer(self.param_groups())
        for g in optimizer.param_groups:
            g["lr"] = g["lr"] * g.get("lr_scale", 1.0)
            g["initial_lr"] = g["lr"]
        return optimizer_config(optimizer, self.lr_scheduler, self)
