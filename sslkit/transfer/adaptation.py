"""Unsupervised domain adaptation: labelled source(s), unlabelled target, scored on the target.

* :class:`DomainAdaptation` (a LightningModule): ``source_only``, ``dann``
  (Ganin & Lempitsky, 2015, arXiv:1409.7495), ``coral`` (Sun & Saenko, 2016,
  arXiv:1607.01719), ``mmd`` (Long et al., 2015, arXiv:1502.02791); with several
  sources the DANN discriminator tells every source and the target apart.
* :func:`adapt_batchnorm`: AdaBN (Li et al., 2016, "Revisiting Batch Normalization
  For Practical Domain Adaptation", arXiv:1603.04779).
* :func:`continue_ssl`: continued self-supervised pretraining (any method; SimCLR by default) on the target images.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader, Dataset
from torchmetrics.classification import MulticlassAccuracy

from sslkit.losses.domain import CORALLoss, MMDLoss, grad_reverse
from sslkit.transfer.export import build_backbone
from sslkit.transfer.runner import BackboneSource, check_backbones

Method = Literal["source_only", "dann", "coral", "mmd"]


class DomainAdaptation(L.LightningModule):
    """Backbone + classifier trained on labelled sources while aligning the target's features.

    Loss: cross-entropy on source labels plus ``weight`` times the alignment term
    of ``method`` between source and target features. For ``dann`` the weight of
    the reversed gradient ramps as ``2 / (1 + exp(-10 p)) - 1`` over training
    progress ``p`` and every learning rate anneals as ``lr / (1 + 10 p)^0.75`` (both
    as in the DANN paper). Source and target go through the backbone as one
    batch, so BatchNorm normalises (and tracks running statistics of) the mixture
    of domains the same way in training and at test time; separate passes would
    normalise each domain by its own batch statistics in training (hiding the
    shift from the alignment loss) and by a mixture at test time. Logs
    ``train/loss``, ``train/align``, ``val/acc`` and ``test/acc`` (on the target).

    Args:
        num_classes: classes (linked from the DataModule).
        num_domains: sources + 1 (from :class:`~sslkit.data.DomainAdaptationDataModule`).
        backbone, backbone_kwargs, checkpoint, weights: the backbone source (see
            :func:`~sslkit.transfer.build_backbone`).
        method: alignment method.
        weight: weight of the alignment loss.
        disc_hidden: hidden width of the DANN domain discriminator.
        backbone_lr_scale: multiplies the backbone's learning rate (head and
            discriminator keep the optimizer's rate); ``0.1`` for a pretrained backbone.
        anneal_lr: use the DANN learning-rate annealing (else a constant rate).
        optimizer: optimizer callable.
    """

    def __init__(self, num_classes: int = 0, num_domains: int = 2, backbone: str = "tiny_cnn",
                 backbone_kwargs: dict[str, Any] | None = None, checkpoint: str | None = None, weights: str | None = None,
                 method: Method = "dann", weight: float = 1.0, disc_hidden: int = 256, backbone_lr_scale: float = 1.0,
                 anneal_lr: bool = True, optimizer: OptimizerCallable = torch.optim.AdamW) -> None:
        super().__init__()
        if num_classes < 2 or num_domains < 2 or weight < 0 or backbone_lr_scale <= 0:
            raise ValueError("need num_classes >= 2, num_domains >= 2, weight >= 0 and backbone_lr_scale > 0")
        self.save_hyperparameters(ignore=["optimizer"])
        self.backbone, name, kwargs = build_backbone(backbone, backbone_kwargs, checkpoint, weights)
        self.hparams.update(backbone=name, backbone_kwargs=kwargs)
        d = self.backbone.num_features
        self.head = nn.Linear(d, num_classes)
        self.method, self.weight, self.optimizer = method, weight, optimizer
        self.discriminator = nn.Sequential(nn.Linear(d, disc_hidden), nn.ReLU(), nn.Linear(disc_hidden, num_domains)) \
            if method == "dann" else None
        self.align = {"coral": CORALLoss(), "mmd": MMDLoss()}.get(method)
        self.val_acc, self.test_acc = MulticlassAccuracy(num_classes, average="micro"), MulticlassAccuracy(num_classes, average="micro")

    def embed(self, x: Any) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: Any) -> torch.Tensor:
        return self.head(self.backbone(x))

    def _progress(self, step: int | None = None) -> float:
        """Training progress ``p`` in ``[0, 1]`` at ``step`` (default: the global step)."""
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else 0
        step = self.global_step if step is None else step
        return min(step / total, 1.0) if total and math.isfinite(total) else 1.0

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        xs, ys, ds = batch["source"]
        if self.method == "source_only":
            fs = self.backbone(xs)
        else:
            fs, ft = self.backbone(torch.cat([xs, batch["target"][0]])).split([xs.shape[0], batch["target"][0].shape[0]])
        loss = F.cross_entropy(self.head(fs), ys)
        align = torch.zeros((), device=loss.device)
        if self.method != "source_only":
            if self.method == "dann":
                lam = 2.0 / (1.0 + math.exp(-10 * self._progress())) - 1.0
                logits = self.discriminator(grad_reverse(torch.cat([fs, ft]), lam))
                target_id = torch.full((ft.shape[0],), self.hparams.num_domains - 1, device=ft.device, dtype=torch.long)
                align = F.cross_entropy(logits, torch.cat([ds.long(), target_id]))
            else:
                align = self.align(fs, ft)
            loss = loss + self.weight * align
        self.log("train/loss", loss, prog_bar=True, batch_size=ys.shape[0])
        self.log("train/align", align, batch_size=ys.shape[0])
        return loss

    def _eval(self, batch: Any, metric: MulticlassAccuracy, name: str) -> None:
        x, y = batch
        metric(self(x), y)
        self.log(name, metric, prog_bar=True, batch_size=y.shape[0])

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval(batch, self.val_acc, "val/acc")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval(batch, self.test_acc, "test/acc")

    def configure_optimizers(self) -> Any:
        bb = [p for p in self.backbone.parameters() if p.requires_grad]
        rest = [p for n, p in self.named_parameters() if p.requires_grad and not n.startswith("backbone.")]
        opt = self.optimizer([{"params": rest}, {"params": bb}])
        opt.param_groups[1]["lr"] *= self.hparams.backbone_lr_scale
        if not self.hparams.anneal_lr:
            return opt
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: (1 + 10 * self._progress(step)) ** -0.75)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, dataset: Dataset, device: torch.device | str = "cpu", batch_size: int = 256) -> int:
    """AdaBN: replace every BatchNorm's running statistics by those of ``dataset`` (the target).

    Statistics are reset and re-estimated as an exact cumulative average over
    the data (``momentum=None``), with the rest of the model in eval mode. The
    model is left in eval mode with the BN momenta restored.

    Returns:
        Number of BatchNorm layers adapted.
    """
    from sslkit.utils.features import to_device

    bns = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    momenta = [m.momentum for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    for batch in DataLoader(dataset, batch_size=batch_size):
        model(to_device(batch[0], device))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
        m.eval()
    return len(bns)


def ssl_method_class(name: str) -> type:
    """The :class:`~sslkit.methods.SSLMethod` subclass called ``name`` (case-insensitive, e.g. ``simclr``, ``VICReg``)."""
    import sslkit.methods as methods
    from sslkit.methods import SSLMethod

    found = {n.lower(): getattr(methods, n) for n in methods.__all__
             if isinstance(getattr(methods, n), type) and issubclass(getattr(methods, n), SSLMethod)
             and getattr(methods, n) is not SSLMethod}
    if name.lower() not in found:
        raise ValueError(f"unknown ssl_method {name!r}; choose one of {sorted(found)}")
    return found[name.lower()]


def continue_ssl(backbone: nn.Module, name: str, kwargs: dict[str, Any], target: L.LightningDataModule, epochs: int = 5,
                 lr: float = 1e-3, batch_size: int = 128, accelerator: str = "cpu", method: str = "SimCLR",
                 method_args: dict[str, Any] | None = None) -> nn.Module:
    """Continue self-supervised pretraining of ``backbone`` on the (unlabelled) target images; returns the new backbone.

    Any method of :mod:`sslkit.methods` that takes the backbone works (``method``, with
    ``method_args`` for its own arguments). The target DataModule is copied with the
    method's smallest number of views: two SimCLR-style views (Chen et al., 2020,
    arXiv:2002.05709; crop, colour jitter, no flip) for joint-embedding methods, one
    cropped view for single-view methods (masked, generative, pretext).
    SimCLR without ``method_args`` uses a 256-64 projection and temperature 0.2.
    """
    import functools

    from sslkit.transforms import ViewAugment

    cls = ssl_method_class(method)
    n_views = max(1, int(cls.num_views[0]))
    args = dict(method_args or ({"proj_hidden_dim": 256, "proj_output_dim": 64, "temperature": 0.2}
                                if cls.__name__ == "SimCLR" else {}))
    dm = copy.copy(target)
    jitter = 0.8 if n_views > 1 else 0.0
    dm.views = [ViewAugment(size=target.image_size, num_views=n_views, crop_scale=(0.4, 1.0) if n_views > 1 else (0.6, 1.0),
                            hflip_prob=0.0, jitter_prob=jitter, brightness=0.4, contrast=0.4, saturation=0.0, hue=0.0,
                            grayscale_prob=0.0)]
    dm.batch_size = batch_size
    ssl = cls(backbone=name, backbone_kwargs=kwargs, optimizer=functools.partial(torch.optim.AdamW, lr=lr, weight_decay=1e-4),
              **args)
    ssl.backbone.load_state_dict(backbone.state_dict())
    trainer = L.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
    trainer.fit(ssl, datamodule=dm)
    return ssl.backbone.eval()


ADAPT_METHODS: tuple[str, ...] = ("source_only", "dann", "coral", "mmd", "adabn", "ssl")


def domain_adaptation(sources: list[L.LightningDataModule], target: L.LightningDataModule,
                      backbones: list[BackboneSource] | None = None, methods: list[str] = ADAPT_METHODS,  # type: ignore[assignment]
                      weights: dict[str, float] | None = None,
                      seeds: list[int] = (0,), max_steps: int = 300, batch_size: int = 64, lr: float = 1e-3,  # type: ignore[assignment]
                      backbone_lr_scale: float = 1.0, anneal_lr: bool = True,
                      ssl_epochs: int = 5, ssl_method: str = "SimCLR", ssl_method_args: dict[str, Any] | None = None,
                      accelerator: str = "cpu", out_dir: str = "runs/adaptation") -> dict[str, dict[str, list[float]]]:
    """Train every method on the sources + unlabelled target from every backbone and score it on the target test split.

    ``adabn`` re-estimates the BatchNorm statistics of the ``source_only`` model
    on the target; ``ssl`` continues ``ssl_method`` (SimCLR by default, any method of
    :mod:`sslkit.methods`) on the target from the ``source_only`` backbone and fits a
    logistic regression on the source labels. Writes
    ``results.csv`` (one row per backbone, method and seed) and ``results.md``
    (mean ± std over seeds, gain over the same backbone's source-only and over the
    first backbone's: the random-init baseline when it is listed first).

    Args:
        sources: labelled source DataModules (several: multi-source transfer).
        target: target DataModule (its labels are used only for scoring).
        backbones: :class:`~sslkit.transfer.runner.BackboneSource` list, e.g. random init and a
            self-supervised checkpoint (default: random-init ``tiny_cnn``).
        methods: subset of :data:`ADAPT_METHODS`.
        weights: alignment weight per method (defaults: dann 1, coral 10, mmd 1).
        seeds: training seeds.
        max_steps: optimizer steps per run.
        batch_size: images per domain per batch.
        lr: AdamW learning rate (head and discriminator).
        backbone_lr_scale: backbone learning rate = ``lr * backbone_lr_scale`` for a checkpoint or weights
            backbone (a random-init backbone always learns at ``lr``).
        anneal_lr: DANN annealing ``lr / (1 + 10 p)^0.75`` for every method.
        ssl_epochs: epochs of continued self-supervision (``ssl``).
        ssl_method: the method ``ssl`` continues with (a class name of :mod:`sslkit.methods`, any case).
        ssl_method_args: its arguments besides backbone and optimizer.
        accelerator: Lightning accelerator.
        out_dir: output folder.

    Returns:
        ``{backbone label: {method: [target test accuracy per seed]}}``.
    """
    import csv
    from pathlib import Path

    from sslkit.data.downstream import DomainAdaptationDataModule

    bad = [m for m in methods if m not in ADAPT_METHODS]
    if bad:
        raise ValueError(f"unknown methods {bad}; choose from {ADAPT_METHODS}")
    if "ssl" in methods:
        ssl_method_class(ssl_method)  # a misspelt name fails before any training
    backbones = list(backbones or [BackboneSource("random_init")])
    check_backbones(backbones)
    w = {"dann": 1.0, "coral": 10.0, "mmd": 1.0, **(weights or {})}
    dm = DomainAdaptationDataModule(sources, target, batch_size=batch_size)
    results: dict[str, dict[str, list[float]]] = {}
    for source in backbones:
        pretrained = source.checkpoint is not None or source.weights is not None
        results[source.label] = _adapt_backbone(source, dm, target, methods, w, seeds, max_steps, lr,
                                                backbone_lr_scale if pretrained else 1.0, anneal_lr, ssl_epochs,
                                                ssl_method, ssl_method_args, accelerator)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["backbone", "method", "seed", "target_acc"])
        wr.writerows([b, m, s, a] for b, res in results.items() for m, accs in res.items() for s, a in zip(seeds, accs))
    names = "+".join(str(getattr(s, "shift", type(s).__name__)) for s in sources)
    title = (f"Target test accuracy (%), sources {names} -> target {getattr(target, 'shift', type(target).__name__)}, "
             f"mean ± std over {len(seeds)} seeds")
    text = adaptation_markdown(results, title)
    (out / "results.md").write_text(text + "\n")
    print(text)
    return results


def adaptation_markdown(results: dict[str, dict[str, list[float]]], title: str) -> str:
    """``results.md``: one row per backbone and method, with the gains over the same backbone's source-only
    and over the first backbone's source-only (e.g. random init)."""
    import numpy as np

    mean = lambda accs: 100 * float(np.mean(accs))  # noqa: E731
    first_label = next(iter(results))
    first = results[first_label].get("source_only")
    lines = [title, "", "| backbone | method | target acc | gain vs source-only | gain vs first backbone's source-only |",
             "|---|---|---|---|---|"]
    for label, res in results.items():
        base = res.get("source_only")
        for m, accs in res.items():
            own = f"{mean(accs) - mean(base):+.1f}" if base and m != "source_only" else ""
            vs_first = f"{mean(accs) - mean(first):+.1f}" if first and (label, m) != (first_label, "source_only") else ""
            lines.append(f"| {label} | {m} | {mean(accs):.1f} ± {100 * float(np.std(accs)):.1f} | {own} | {vs_first} |")
    return "\n".join(lines)


def _adapt_backbone(source: BackboneSource, dm: L.LightningDataModule, target: L.LightningDataModule, methods: list[str],
                    w: dict[str, float], seeds: list[int], max_steps: int, lr: float, backbone_lr_scale: float,
                    anneal_lr: bool, ssl_epochs: int, ssl_method: str, ssl_method_args: dict[str, Any] | None,
                    accelerator: str) -> dict[str, list[float]]:
    """Every method from one backbone, for every seed: ``{method: [target test accuracy per seed]}``."""
    import functools

    from sslkit.transfer.classic import fit_score
    from sslkit.utils.features import accuracy, extract_features

    test = dm.target_dataset("test")
    results: dict[str, list[float]] = {m: [] for m in methods}
    for seed in seeds:
        trained: dict[str, DomainAdaptation] = {}
        for m in [m for m in ("source_only", "dann", "coral", "mmd") if m in methods or
                  (m == "source_only" and {"adabn", "ssl"} & set(methods))]:
            torch.manual_seed(source.init_seed)
            model = DomainAdaptation(num_classes=dm.num_classes, num_domains=dm.num_domains, method=m, weight=w.get(m, 0.0),
                                     backbone_lr_scale=backbone_lr_scale, anneal_lr=anneal_lr,
                                     optimizer=functools.partial(torch.optim.AdamW, lr=lr, weight_decay=1e-4),
                                     **source.classifier_args())
            L.seed_everything(seed, verbose=False)
            L.Trainer(max_steps=max_steps, max_epochs=-1, accelerator=accelerator, devices=1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0, num_sanity_val_steps=0).fit(model, datamodule=dm)
            trained[m] = model.eval()
            if m in methods:
                results[m].append(accuracy(model, test, model.device))
        if "adabn" in methods:
            model = copy.deepcopy(trained["source_only"])
            adapt_batchnorm(model.backbone, dm.target_dataset("train"), model.device)
            results["adabn"].append(accuracy(model, test, model.device))
        if "ssl" in methods:
            base = trained["source_only"]
            bb = continue_ssl(copy.deepcopy(base.backbone), base.hparams.backbone, base.hparams.backbone_kwargs, target,
                              epochs=ssl_epochs, accelerator=accelerator, method=ssl_method, method_args=ssl_method_args)
            train = extract_features(bb, dm.source_dataset_xy(), base.device)
            results["ssl"].append(fit_score("logistic", (train[0].numpy(), train[1].numpy()),
                                            {"t": tuple(a.numpy() for a in extract_features(bb, test, base.device))})["t"])
        print(f"[adapt] {source.label}, seed {seed}: " + ", ".join(f"{m} {100 * v[-1]:.1f}%" for m, v in results.items()),
              flush=True)
    return results
