"""The ``sslkit`` command: a LightningCLI over every method and DataModule.

``sslkit fit --config recipes/pretrain/digits/simclr.yaml`` pretrains;
``sslkit fit --help`` and ``--print_config`` document every option.

Unless a recipe configures its own, the CLI adds a CSV logger, a W&B logger
(offline by default: it never prompts and never touches the network unless
``--wandb.mode online``), a ``ModelCheckpoint(save_last=True)`` writing to
``<default_root_dir>/checkpoints`` and a learning-rate monitor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, Logger


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

    def logger(self, root: Path) -> Logger | None:
        """The W&B logger for this run, or ``None`` when disabled."""
        if self.mode == "disabled":
            return None
        os.environ.setdefault("WANDB_SILENT", "true")
        from lightning.pytorch.loggers import WandbLogger

        return WandbLogger(project=self.project, name=self.name, entity=self.entity, tags=self.tags,
                           save_dir=str(root), offline=self.mode == "offline", mode=self.mode)


class SSLKitCLI(LightningCLI):
    """LightningCLI with sslkit's defaults: typed configs, data-to-model links, offline logging."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("model_class", L.LightningModule)
        kwargs.setdefault("datamodule_class", L.LightningDataModule)
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        kwargs.setdefault("auto_configure_optimizers", False)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_class_arguments(WandbOptions, "wandb", instantiate=True)
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")

    def instantiate_trainer(self, **kwargs) -> L.Trainer:
        cfg = self._get(self.config_init, "trainer", default={})
        root = Path(cfg.get("default_root_dir") or os.getcwd())
        if cfg.get("logger") in (None, True):
            wandb = self._get(self.config_init, "wandb")
            kwargs["logger"] = [lg for lg in (CSVLogger(root, name="csv"), wandb.logger(root)) if lg is not None]
        callbacks = list(cfg.get("callbacks") or [])
        if cfg.get("enable_checkpointing", True) is not False and not any(isinstance(c, ModelCheckpoint) for c in callbacks):
            callbacks.append(ModelCheckpoint(dirpath=root / "checkpoints", save_last=True))
        if cfg.get("logger") is not False and not any(isinstance(c, LearningRateMonitor) for c in callbacks):
            callbacks.append(LearningRateMonitor(logging_interval="step"))
        kwargs["callbacks"] = callbacks
        return super().instantiate_trainer(**kwargs)


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
