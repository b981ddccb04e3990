"""The ``sslkit`` command: a LightningCLI over every method and DataModule.

``sslkit fit --config recipes/pretrain/digits/simclr.yaml`` pretrains;
``sslkit fit --help`` and ``--print_config`` document every option.

Unless a recipe configures its own, the CLI adds a CSV logger, a W&B logger
(offline by default: it never prompts and never touches the network unless
``--wandb.mode online``), a ``ModelCheckpoint(save_last=True)`` writing to
``<default_root_dir>/checkpoints``, a learning-rate monitor and the
reliability callbacks: :class:`~sslkit.callbacks.NonFiniteGuard` (stop on
NaN/Inf), :class:`~sslkit.callbacks.CollapseMonitor`,
:class:`~sslkit.callbacks.ViewSizeCheck` and :class:`~sslkit.callbacks.ResumeState`
(RNG states, W&B run id and package versions in checkpoints; ``versions.json``)
and :class:`~sslkit.callbacks.UnreadableFilesMonitor` (logs ``data/unreadable_files``
for DataModules that replace unreadable image files, e.g. ImageFolder with
``bad_files: replace``).

Checkpoints load with ``weights_only=True`` (``--weights_only false`` to trust
a file). ``--ckpt_path last`` resumes exactly (see docs/reliability.md) and
continues the same W&B run; with no checkpoint yet it starts fresh with a warning.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, Logger

from sslkit.callbacks.collapse import CollapseMonitor
from sslkit.callbacks.data_health import UnreadableFilesMonitor
from sslkit.callbacks.guards import NonFiniteGuard, ViewSizeCheck
from sslkit.callbacks.resume import CHECKPOINT_KEY, ResumeState


class WandbOptions:
    """Weights & Biases settings.

    Args:
        mode: ``offline`` (default: logs to ``<root>/wandb``, sync later with
            ``wandb sync``), ``online`` (opt in; needs ``wandb login``) or
            ``disabled``. The ``WANDB_MODE`` environment variable sets the default.
        project: W&B project name.
        name: run name (default: W&B picks one).
        entity: W&B entity (user or team).
        tags: run tags.
    """

    def __init__(self, mode: Literal["offline", "online", "disabled"] | None = None, project: str = "sslkit",
                 name: str | None = None, entity: str | None = None, tags: list[str] | None = None) -> None:
        env = os.environ.get("WANDB_MODE", "offline")
        self.mode = mode or (env if env in ("offline", "online", "disabled") else "offline")
        self.project, self.name, self.entity, self.tags = project, name, entity, tags or []

    def logger(self, root: Path, run_id: str | None = None) -> Logger | None:
        """The W&B logger for this run, or ``None`` when disabled.

        Args:
            root: directory of the run (W&B files go to ``<root>/wandb``).
            run_id: id of a run to continue (``resume="allow"``), e.g. from a checkpoint.
        """
        if self.mode == "disabled":
            return None
        os.environ.setdefault("WANDB_SILENT", "true")
        from lightning.pytorch.loggers import WandbLogger

        extra = {"id": run_id, "resume": "allow"} if run_id else {}
        return WandbLogger(project=self.project, name=self.name, entity=self.entity, tags=self.tags,
                           save_dir=str(root), offline=self.mode == "offline", mode=self.mode, **extra)


def checkpoint_run_id(path: str | Path) -> str | None:
    """The W&B run id recorded in an sslkit checkpoint (loaded with ``weights_only=True``), if any."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # unreadable or unsafe files are reported by the Trainer when it loads them
        return None
    return (ckpt.get(CHECKPOINT_KEY) or {}).get("wandb_id")


def resolve_last_checkpoint(root: Path, callbacks: list) -> Path | None:
    """The newest ``last*.ckpt`` in the checkpoint folders of ``callbacks`` and ``<root>/checkpoints``."""
    folders = {Path(c.dirpath) for c in callbacks if isinstance(c, ModelCheckpoint) and c.dirpath} | {root / "checkpoints"}
    found = [p for f in folders if f.is_dir() for p in f.glob("last*.ckpt")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


class SSLKitCLI(LightningCLI):
    """LightningCLI with sslkit's defaults: typed configs, data-to-model links, offline logging."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("model_class", L.LightningModule)
        kwargs.setdefault("datamodule_class", L.LightningDataModule)
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        kwargs.setdefault("auto_configure_optimizers", False)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        # no unique-prefix matching: `--trainer.max_epoch` must be an error, not max_epochs
        kwargs.setdefault("parser_kwargs", {"allow_abbrev": False})
        super().__init__(*args, **kwargs)

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if "weights_only" in self._subcommand_method_arguments.get(subcommand, ()):
            parser.set_defaults(weights_only=True)  # safe by default: no pickled code runs on load
        return parser

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_class_arguments(WandbOptions, "wandb", instantiate=True)
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")

    def instantiate_trainer(self, **kwargs) -> L.Trainer:
        cfg = self._get(self.config_init, "trainer", default={})
        root = Path(cfg.get("default_root_dir") or os.getcwd())
        callbacks = list(cfg.get("callbacks") or [])
        if cfg.get("logger") in (None, True):
            wandb = self._get(self.config_init, "wandb")
            run_id = self._resumed_run_id(root, callbacks)
            kwargs["logger"] = [lg for lg in (CSVLogger(root, name="csv"), wandb.logger(root, run_id)) if lg is not None]
        # before SaveConfigCallback
        defaults = [ResumeState, ViewSizeCheck, NonFiniteGuard, CollapseMonitor, UnreadableFilesMonitor]
        callbacks = [cls() for cls in defaults if not any(isinstance(c, cls) for c in callbacks)] + callbacks
        if cfg.get("enable_checkpointing", True) is not False and not any(isinstance(c, ModelCheckpoint) for c in callbacks):
            callbacks.append(ModelCheckpoint(dirpath=root / "checkpoints", save_last=True))
        if cfg.get("logger") is not False and not any(isinstance(c, LearningRateMonitor) for c in callbacks):
            callbacks.append(LearningRateMonitor(logging_interval="step"))
        kwargs["callbacks"] = callbacks
        return super().instantiate_trainer(**kwargs)

    def _resumed_run_id(self, root: Path, callbacks: list) -> str | None:
        """The W&B run id stored in the checkpoint that ``--ckpt_path`` resumes from, if any."""
        ckpt_path = (self.config.get(self.subcommand) or {}).get("ckpt_path") if self.subcommand else None
        if ckpt_path == "last":
            ckpt_path = resolve_last_checkpoint(root, callbacks)
        if not ckpt_path or not Path(ckpt_path).is_file():
            return None
        return checkpoint_run_id(ckpt_path)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``sslkit`` console script."""
    import sys

    from sslkit.transfer.commands import COMMANDS, run

    argv = sys.argv[1:] if args is None else list(args)
    if argv and argv[0] in COMMANDS:  # export, label-efficiency, cross-domain, adapt
        run(argv[0], argv[1:])
        return
    SSLKitCLI(args=args)


if __name__ == "__main__":
    main()
