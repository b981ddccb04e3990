"""The base class of every self-supervised method: one contract for every kind of objective."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, NamedTuple

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import Metric

from sslkit.backbones import create_backbone
from sslkit.backbones.stages import stage_features, stage_width
from sslkit.utils.momentum import MomentumEncoder, StepTracker
from sslkit.utils.optim import WarmupCosineLR, optimizer_config, split_weight_decay

#: Keys of a loss dict that are step outputs, not loss terms to log.
OUTPUT_KEYS = ("features", "labels")


class Stage(NamedTuple):
    """One optimizer of a method with several (a GAN's generator and discriminator).

    Attributes:
        name: the stage's name; its loss terms are logged as ``train/<name>_<term>``.
        modules: the modules whose trainable parameters this optimizer updates.
        optimizer: callable building the optimizer from parameter groups.
        lr_scheduler: optional callable building its scheduler.
    """

    name: str
    modules: list[nn.Module]
    optimizer: OptimizerCallable
    lr_scheduler: LRSchedulerCallable | None = None


class SSLMethod(L.LightningModule):
    """A self-supervised method: a backbone, its heads and its objective.

    A subclass declares what it consumes and implements :meth:`training_loss`;
    the base owns every Lightning step, logging, the evaluation contract and
    the stepping of momentum encoders, so no method overrides ``training_step``.

    What a method consumes (class attributes, or instance attributes set in ``__init__``):

    * ``inputs = "views"`` (default): ``training_loss(views)`` gets the list of
      augmented ``(B, C, H, W)`` views the DataModule made (several views,
      multi-crop, or one clean view), checked against ``num_views = (min, max)``
      (``max=None``: no upper bound) with a message that says how to fix the recipe.
    * ``inputs = "tokens"``: ``training_loss(batch)`` gets the DataModule's dict
      batch (``input_ids``, ``attention_mask``, ...).

    What it returns: a dict with ``loss`` (the scalar to minimise) and any named
    terms (``recon``, ``kl``, ...), each logged as ``train/<term>``. Optional
    ``features`` ``(B, D)`` (detached) and ``labels`` ``(B,)`` pass through as step
    outputs for user callbacks; the evaluation callbacks read validation outputs
    only, so the base never spends a forward pass making training features.

    Several optimizers: override :meth:`optimizer_stages` to return one
    :class:`Stage` per optimizer; ``training_loss(inputs, stage=name)`` is then
    called once per stage, in order, each followed by that optimizer's step
    (Lightning manual optimisation; gradient clipping from the trainer applies).

    The base steps every :class:`~sslkit.utils.MomentumEncoder` the method holds
    after each optimizer step (logged as ``train/tau``), and gives evaluation
    features from any backbone stage (``embed_stage``).

    A skipped optimizer step (fp16 ``GradScaler`` found Inf/NaN gradients, or
    ``NonFiniteGuard(policy="skip")`` dropped them) moves nothing: the momentum
    encoders and the per-step learning-rate schedule do not step, and under a
    gradient scaler every buffer the batch changed (queues, DINO's center,
    BatchNorm statistics) is restored from a copy taken at the start of the batch.

    Step outputs (the callback contract):

    * ``training_step`` returns ``{"loss", "labels"}`` (``labels`` ``-1`` =
      unlabelled), plus ``features`` when the method returned them (and reads the
      final features, no ``embed_stage``).
    * ``validation_step`` / ``test_step`` return ``{"features", "labels"}`` from
      :meth:`validation_outputs` (default: :meth:`embed` of clean inputs).

    Args:
        backbone: registry name, see :func:`sslkit.backbones.list_backbones`.
        backbone_kwargs: keyword arguments of the backbone builder.
        optimizer: callable building the optimizer from parameter groups.
        lr_scheduler: optional callable building the scheduler from the optimizer;
            :class:`~sslkit.utils.WarmupCosineLR` is stepped per optimizer step.
        num_classes: classes of the labelled data, for evaluation callbacks
            (linked from the DataModule by the CLI; 0 means unlabelled).
        exclude_norm_bias_decay: no weight decay (and no LARS adaptation) for
            biases and normalisation parameters.
        embed_stage: evaluate (probe, kNN, summary, collapse) the pooled output of
            this backbone stage instead of the final features (Python indexing over
            :func:`~sslkit.backbones.stages.backbone_stages`, e.g. ``1`` = second block).
    """

    inputs: ClassVar[Literal["views", "tokens"]] = "views"
    num_views: tuple[int, int | None] = (2, 2)
    #: whether :meth:`preview_images` returns reconstructions of its inputs (shown under the
    #: originals by :class:`~sslkit.callbacks.ImageGrid`) rather than samples.
    preview_reconstructs: bool = True
    #: what the view-count error tells the user to change (methods whose views are not augmentations say their own).
    views_fix: str = "set num_views in data.init_args.views accordingly"
    #: log names of :meth:`validation_metrics` keys that differ from the metric's own.
    val_metric_names: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        backbone: str = "tiny_cnn",
        backbone_kwargs: dict[str, Any] | None = None,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        lr_scheduler: LRSchedulerCallable | None = None,
        num_classes: int = 0,
        exclude_norm_bias_decay: bool = True,
        embed_stage: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()  # every subclass's arguments, then again without optimizers and schedulers
        self.save_hyperparameters(ignore=[k for k, v in self.hparams.items()  # (any stage's): code, not settings
                                          if callable(v) or k.endswith(("optimizer", "lr_scheduler"))])
        self.backbone_name = backbone
        self.backbone_kwargs = dict(backbone_kwargs or {})
        self.backbone = self.build_backbone()
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.num_classes = num_classes
        self.exclude_norm_bias_decay = exclude_norm_bias_decay
        self.embed_stage = embed_stage
        if embed_stage is not None:
            stage_width(self.backbone, embed_stage)  # a bad index fails here, naming the stages
        self._steps = StepTracker()
        self._buffers_before: dict[str, torch.Tensor] | None = None

    # ------------------------------------------------------------------ the evaluation contract
    @property
    def num_features(self) -> int:
        """Size of the features returned by :meth:`embed` (heads use ``self.backbone.num_features``)."""
        if self.embed_stage is None:
            return self.backbone.num_features
        return stage_width(self.backbone, self.embed_stage)

    def build_backbone(self) -> nn.Module:
        """A new backbone as configured, before any training (used for baselines)."""
        return create_backbone(self.backbone_name, **self.backbone_kwargs)

    def initial_copy(self) -> SSLMethod:
        """The same method built afresh from its hyperparameters: the "at initialisation" baseline.

        Every module is new (backbone and any head that :meth:`embed` reads, such
        as a VAE's posterior or a diffusion model's conditioning), with random
        weights, or the starting weights when the method loads pretrained ones.
        Seed the global RNG first for a reproducible copy.
        """
        hparams = {k: v for k, v in self.hparams.items() if not k.startswith("_")}
        return type(self)(**hparams)

    def embed(self, x: Any) -> torch.Tensor:
        """Features used for evaluation and transfer: ``(B, num_features)``."""
        if self.embed_stage is None:
            return self.backbone(x)
        return stage_features(self.backbone, x, self.embed_stage)

    def preview_images(self, x: torch.Tensor) -> torch.Tensor | None:
        """Images the method makes from clean inputs (reconstructions, samples) for image-grid
        callbacks, ``(N, C, H, W)`` in the inputs' normalised space; ``None`` (default) for none."""
        return None

    # ------------------------------------------------------------------ what subclasses implement
    def training_loss(self, inputs: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The objective on one batch: ``{"loss": scalar, <term>: value, ...}``.

        Args:
            inputs: the list of views (``inputs = "views"``) or the dict batch (``"tokens"``).
            **kwargs: ``stage=<name>`` for methods with several :meth:`optimizer_stages`.
        """
        raise NotImplementedError

    def validation_outputs(self, inputs: Any) -> dict[str, torch.Tensor]:
        """Outputs of one validation / test batch of clean inputs; at least ``features``."""
        return {"features": self.embed(inputs)}

    def optimizer_stages(self) -> list[Stage]:
        """The method's optimizers; by default one over every trainable parameter."""
        return [Stage("main", [self], self.optimizer, self.lr_scheduler)]

    def validation_metrics(self) -> Metric | None:
        """The metric of the method's own objective on validation batches (e.g. masked-token accuracy), or ``None``.

        The method updates it in :meth:`validation_outputs`; the base logs its
        ``compute()`` dict as ``val/<name>`` (renamed by ``val_metric_names``) at the
        end of every validation that fed it (its ``count`` state, else its update
        count, above 0; always under several processes, where ``compute`` syncs), then resets it.
        """
        return None

    # ------------------------------------------------------------------ helpers
    def check_views(self, views: list[torch.Tensor]) -> None:
        """Raise a clear error unless the number of views fits ``num_views``."""
        lo, hi = self.num_views
        if len(views) >= lo and (hi is None or len(views) <= hi):
            return
        want = f"exactly {lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
        raise ValueError(f"{type(self).__name__} needs {want} view(s) per image, the DataModule gives {len(views)}; "
                         f"{self.views_fix}")

    def momentum_encoders(self) -> list[tuple[str, MomentumEncoder]]:
        """Every :class:`~sslkit.utils.MomentumEncoder` of the method, by attribute name."""
        return [(name, m) for name, m in self.named_modules() if isinstance(m, MomentumEncoder)]

    @staticmethod
    def split_batch(batch: Any) -> tuple[Any, torch.Tensor]:
        """``(inputs, labels)`` of a batch: ``(x, labels)`` pairs, or dict batches with every label ``-1``."""
        if isinstance(batch, Mapping):
            n = len(batch["input_ids"]) if "input_ids" in batch else len(next(iter(batch.values())))
            device = next(iter(batch.values())).device
            return batch, torch.full((n,), -1, dtype=torch.long, device=device)
        x, labels = batch
        return x, labels

    def _log_terms(self, out: dict[str, Any], prefix: str, batch_size: int) -> None:
        for key, value in out.items():
            if key not in OUTPUT_KEYS:
                # no prog_bar: Lightning would convert it to a number after every step (a device sync); the CLI's
                # progress bar shows train/loss at logging steps (sslkit.callbacks.speed.sync_free_progress_bar)
                # a Python number as a host tensor: Lightning would copy it to the device (a sync on a GPU)
                value = value if isinstance(value, torch.Tensor) else torch.tensor(float(value))
                self.log(f"train/{prefix}{key}", value, batch_size=batch_size)

    # ------------------------------------------------------------------ Lightning hooks
    @property
    def automatic_optimization(self) -> bool:  # several stages: manual optimisation
        return len(self.optimizer_stages()) == 1

    @automatic_optimization.setter
    def automatic_optimization(self, value: bool) -> None:
        self._automatic_optimization = value

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        inputs, labels = self.split_batch(batch)
        if self.inputs == "views":
            self.check_views(inputs)
        n = labels.shape[0]
        if self.automatic_optimization:
            out = dict(self.training_loss(inputs))
            self._log_terms(out, "", n)
        else:
            out = self._manual_steps(inputs, n)
        step = {"loss": out["loss"], "labels": out.get("labels", labels)}
        if "features" in out and self.embed_stage is None:  # never an extra forward pass: evaluation embeds its own
            step["features"] = out["features"].detach()
        return step

    def _schedulers(self) -> list[Any]:
        found = self.lr_schedulers()
        return [] if found is None else found if isinstance(found, list) else [found]

    def _manual_steps(self, inputs: Any, n: int) -> dict[str, torch.Tensor]:
        """One optimizer step per stage, in order; returns the summed (detached) loss and step outputs."""
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        by_optimizer = {id(s.optimizer): s for s in self._schedulers()}
        total, outputs = 0.0, {}
        for stage, opt in zip(self.optimizer_stages(), optimizers):
            self.toggle_optimizer(opt)  # other stages' parameters get no gradient from this loss
            out = dict(self.training_loss(inputs, stage=stage.name))
            opt.zero_grad(set_to_none=True)
            self.manual_backward(out["loss"])
            if self.trainer.gradient_clip_val:
                self.clip_gradients(opt, self.trainer.gradient_clip_val, self.trainer.gradient_clip_algorithm)
            opt.step()
            self.untoggle_optimizer(opt)
            scheduler = by_optimizer.get(id(opt.optimizer))
            if isinstance(scheduler, WarmupCosineLR) and not self._steps.skipped(opt):  # per-step schedule
                scheduler.step()
            self._log_terms(out, f"{stage.name}_", n)
            total = total + out.pop("loss").detach()
            outputs.update({k: v for k, v in out.items() if k in OUTPUT_KEYS})
        self.log("train/loss", total, batch_size=n)
        self._after_optimizer_steps(self.trainer.global_step)
        return {"loss": total, **outputs}

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._steps.watch(self.trainer.optimizers)
        self._steps.start_batch()
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)  # only a scaler skips steps silently
        self._buffers_before = {k: b.detach().clone() for k, b in self.named_buffers()} if scaler is not None else None

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        self._steps.before_step(optimizer)

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if not self._steps.skipped(scheduler.optimizer):  # a skipped step does not advance the schedule
            super().lr_scheduler_step(scheduler, metric)

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        # before the callbacks' on_train_batch_end, so a checkpoint saved there holds the updated targets
        self._after_optimizer_steps(self.trainer.global_step + 1)  # Lightning counts the step after this hook

    def _after_optimizer_steps(self, steps_taken: int) -> None:
        """Step the momentum encoders after this batch's optimizer step(s); if every step was skipped,
        restore the buffers and consume the step without an EMA update instead."""
        encoders = self.momentum_encoders()
        if self._steps.skipped():
            if self._buffers_before is not None:
                with torch.no_grad():
                    for k, b in self.named_buffers():
                        if k in self._buffers_before:
                            b.copy_(self._buffers_before[k])
            for _, encoder in encoders:
                encoder.skip(steps_taken)
            return
        for name, encoder in encoders:
            if encoder.step(steps_taken, self.trainer.estimated_stepping_batches):
                # a host tensor: a Python float would be copied to the device at every step (a sync on a GPU)
                self.log("train/tau" if len(encoders) == 1 else f"train/{name}_tau", torch.tensor(encoder.tau))

    def on_train_epoch_end(self) -> None:
        if not self.automatic_optimization:
            for scheduler in self._schedulers():
                if not isinstance(scheduler, WarmupCosineLR):
                    scheduler.step()

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        inputs, labels = self.split_batch(batch)
        out = dict(self.validation_outputs(inputs))
        out.setdefault("labels", labels)
        return out

    test_step = validation_step

    def on_validation_epoch_end(self) -> None:
        metric = self.validation_metrics()
        if metric is None:
            return
        seen = int(metric.count) if hasattr(metric, "count") else metric.update_count
        if seen > 0 or self.trainer.world_size > 1:
            for name, value in metric.compute().items():
                self.log(f"val/{self.val_metric_names.get(name, name)}", value, add_dataloader_idx=False, sync_dist=False)
        metric.reset()

    def configure_optimizers(self) -> Any:
        configs = []
        for stage in self.optimizer_stages():
            modules = nn.ModuleList(stage.modules) if len(stage.modules) > 1 else stage.modules[0]
            params = (split_weight_decay(modules) if self.exclude_norm_bias_decay
                      else [p for p in modules.parameters() if p.requires_grad])
            configs.append(optimizer_config(stage.optimizer(params), stage.lr_scheduler, self))
        if len(configs) == 1:
            return configs[0]
        optimizers = [c["optimizer"] if isinstance(c, dict) else c for c in configs]
        schedulers = [c["lr_scheduler"]["scheduler"] if isinstance(c["lr_scheduler"], dict) else c["lr_scheduler"]
                      for c in configs if isinstance(c, dict)]
        return optimizers, schedulers
