"""The ``sslkit`` command: a LightningCLI over every method and DataModule.

``sslkit fit --config recipes/pretrain/digits/simclr.yaml`` pretrains;
``sslkit fit --help`` and ``--print_config`` document every option.

Unless a recipe configures its own, the CLI adds a CSV logger, a W&B logger
(offline by default: it never prompts and never touches the network unless
``--wandb.mode online``), a ``FinalCheckpoint(save_last=True)`` (``last.ckpt`` holds the final weights) writing to
``<default_root_dir>/checkpoints``, a learning-rate monitor and the
reliability callbacks: :class:`~sslkit.callbacks.NonFiniteGuard` (stop on
NaN/Inf), :class:`~sslkit.callbacks.guards.RankFailureReport` (names the failing
process of a distributed run), :class:`~sslkit.callbacks.CollapseMonitor`,
:class:`~sslkit.callbacks.ViewSizeCheck` and :class:`~sslkit.callbacks.ResumeState`
(RNG states, W&B run id and package versions in checkpoints; ``versions.json``)
and :class:`~sslkit.callbacks.UnreadableFilesMonitor` (logs ``data/unreadable_files``
for DataModules that replace unreadable image files, e.g. ImageFolder with
``bad_files: replace``), and the dashboard panels
:class:`~sslkit.callbacks.ViewsGrid`, :class:`~sslkit.callbacks.EmbeddingMap` and
:class:`~sslkit.callbacks.RetrievalGrid` (``--dashboard false`` to leave them out).
After fit it writes ``<default_root_dir>/report.html`` (``--report false`` to skip;
docs/dashboards.md).

Checkpoints load with ``weights_only=True`` (``--weights_only false`` to trust
a file) and are written atomically (:class:`~sslkit.callbacks.checkpointing.AtomicCheckpointIO`).
``--ckpt_path last`` resumes exactly (see docs/reliability.md) and continues the
same W&B run; with no checkpoint yet it starts fresh with a warning; if
``last.ckpt`` is truncated or corrupt it resumes from the newest intact
checkpoint in the folder, saying which, or stops naming the file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.plugins import CheckpointIO

from sslkit.callbacks.checkpointing import AtomicCheckpointIO, FinalCheckpoint
from sslkit.callbacks.collapse import CollapseMonitor
from sslkit.callbacks.dashboard import EmbeddingMap, RetrievalGrid, ViewsGrid
from sslkit.callbacks.data_health import UnreadableFilesMonitor
from sslkit.callbacks.guards import NonFiniteGuard, RankFailureReport, ViewSizeCheck
from sslkit.callbacks.resume import CHECKPOINT_KEY, ResumeState
from sslkit.callbacks.speed import sync_free_progress_bar
from sslkit.utils.checkpoint import WRITE_ERRNOS, CheckpointWriteError, write_error_message


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


def checkpoint_folders(root: Path, callbacks: list) -> list[Path]:
    """The checkpoint folders of ``callbacks`` and ``<root>/checkpoints``."""
    return sorted({Path(c.dirpath) for c in callbacks if isinstance(c, ModelCheckpoint) and c.dirpath} | {root / "checkpoints"})


def resolve_last_checkpoint(root: Path, callbacks: list) -> Path | None:
    """The checkpoint ``--ckpt_path last`` resumes from: the newest ``last*.ckpt`` in :func:`checkpoint_folders`.

    If that file does not load (truncated, corrupt), the newest intact ``*.ckpt`` of those folders
    is used instead, with a warning naming both; if none loads, a ``ValueError`` names the file.
    """
    from lightning.pytorch.utilities import rank_zero_warn

    from sslkit.utils.checkpoint import checkpoint_problem, newest_intact_checkpoint

    folders = checkpoint_folders(root, callbacks)
    found = [p for f in folders if f.is_dir() for p in f.glob("last*.ckpt")]
    if not found:
        return None
    last = max(found, key=lambda p: p.stat().st_mtime)
    problem = checkpoint_problem(last)
    if problem is None:
        return last
    fallback = newest_intact_checkpoint(folders, exclude=last)
    if fallback is None:
        raise ValueError(f"cannot resume: {last} is truncated or corrupt ({problem}) and no other checkpoint in "
                         f"{', '.join(map(str, folders))} loads. Delete {last} to start fresh, or pass --ckpt_path "
                         "to a good checkpoint")
    rank_zero_warn(f"{last} is truncated or corrupt ({problem}); resuming from the newest intact checkpoint "
                   f"{fallback[0]} (global step {fallback[1]})")
    return fallback[0]


def link_pixel_statistics(cfg) -> None:
    """Fill the method's ``pixel_mean`` / ``pixel_std`` (generative methods) or ``input_mean`` / ``input_std``
    (Colorization) with the DataModule's ``mean`` / ``std``.

    Only for a method whose signature has both arguments of a pair, and only where the recipe
    leaves them unset. Set and different from the DataModule's (one value stands for every
    channel): a ``ValueError`` names both. The DataModule is built once more here to read its
    statistics (they may depend on its arguments or data, e.g. ``ArrayDataModule``'s).
    """
    import importlib
    import inspect

    from jsonargparse import ArgumentParser

    model, data = cfg.get("model"), cfg.get("data")
    if not getattr(model, "class_path", None) or not getattr(data, "class_path", None) or model.get("init_args") is None:
        return
    module, _, name = model.class_path.rpartition(".")
    params = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    keys = next(((m, d) for m, d in (("pixel_mean", "pixel_std"), ("input_mean", "input_std")) if m in params and d in params), None)
    if keys is None:
        return
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(L.LightningDataModule, "data")
    dm = parser.instantiate_classes(parser.parse_object({"data": data.clone()})).data
    if getattr(dm, "mean", None) is None or getattr(dm, "std", None) is None:
        return
    for key, value in zip(keys, (dm.mean, dm.std)):
        value, given = [float(v) for v in value], model.init_args.get(key)
        if given is None:
            model.init_args[key] = value
            continue
        per_channel = list(given) * len(value) if len(given) == 1 else list(given)
        if len(per_channel) != len(value) or not all(math.isclose(g, v, rel_tol=1e-6) for g, v in zip(per_channel, value)):
            raise ValueError(f"model.init_args.{key}={list(given)} differs from the {type(dm).__name__}'s normalisation "
                             f"{value}: remove {keys[0]} / {keys[1]} from the recipe (the CLI fills them from the data)")


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
        parser.add_argument("--dashboard", type=bool, default=True,
                            help="add the dashboard panels (views grid, embedding map, retrieval grid; docs/dashboards.md)")
        parser.add_argument("--report", type=bool, default=True, help="write <default_root_dir>/report.html after fit")

    def before_instantiate_classes(self) -> None:
        """Link the DataModule's normalisation to a generative method's pixel statistics (:func:`link_pixel_statistics`)."""
        link_pixel_statistics(self.config[self.subcommand] if self.subcommand else self.config)

    def instantiate_trainer(self, **kwargs) -> L.Trainer:
        cfg = self._get(self.config_init, "trainer", default={})
        root = Path(cfg.get("default_root_dir") or os.getcwd())
        callbacks = list(cfg.get("callbacks") or [])
        if cfg.get("logger") in (None, True):
            wandb = self._get(self.config_init, "wandb")
            run_id = self._resumed_run_id(root, callbacks)
            kwargs["logger"] = [lg for lg in (CSVLogger(root, name="csv"), wandb.logger(root, run_id)) if lg is not None]
        # before SaveConfigCallback
        defaults = [ViewSizeCheck, NonFiniteGuard, CollapseMonitor, UnreadableFilesMonitor, RankFailureReport]
        if self._get(self.config_init, "dashboard", default=True):
            defaults += [ViewsGrid, EmbeddingMap, RetrievalGrid]
        callbacks = [cls() for cls in defaults if not any(isinstance(c, cls) for c in callbacks)] + callbacks
        if not any(isinstance(c, ResumeState) for c in callbacks):
            # after the other callbacks (Lightning moves checkpointing last): it records the RNG states as the
            # checkpoint saves them, after any batch-end draw (e.g. the online probe's), see ResumeState
            callbacks.append(ResumeState())
        if cfg.get("enable_checkpointing", True) is not False and not any(isinstance(c, ModelCheckpoint) for c in callbacks):
            callbacks.append(FinalCheckpoint(dirpath=root / "checkpoints", save_last=True))
        if cfg.get("logger") is not False and not any(isinstance(c, LearningRateMonitor) for c in callbacks):
            callbacks.append(LearningRateMonitor(logging_interval="step"))
        if cfg.get("enable_progress_bar", True) is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            callbacks.append(sync_free_progress_bar())  # shows train/loss without a device sync per step
        kwargs["callbacks"] = callbacks
        plugins = cfg.get("plugins")
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [] if plugins is None else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):  # crash-safe writes unless the recipe chose a writer
            kwargs["plugins"] = plugins + [AtomicCheckpointIO()]
        return super().instantiate_trainer(**kwargs)

    def after_fit(self) -> None:
        """Write ``<default_root_dir>/report.html`` (rank 0; a failure only warns)."""
        if self._get(self.config_init, "report", default=True) and self.trainer.is_global_zero:
            from sslkit.report import report_after_fit

            report_after_fit(Path(self.trainer.default_root_dir))

    def _prepare_subcommand_kwargs(self, subcommand: str) -> dict:
        kwargs = super()._prepare_subcommand_kwargs(subcommand)
        if kwargs.get("ckpt_path") == "last":  # pick an intact checkpoint (or say why none), before Lightning loads
            root = Path(self.trainer.default_root_dir)
            kwargs["ckpt_path"] = resolve_last_checkpoint(root, self.trainer.callbacks) or "last"
        return kwargs

    def _resumed_run_id(self, root: Path, callbacks: list) -> str | None:
        """The W&B run id stored in the checkpoint that ``--ckpt_path`` resumes from, if any."""
        ckpt_path = (self.config.get(self.subcommand) or {}).get("ckpt_path") if self.subcommand else None
        if ckpt_path == "last":
            found = [p for f in checkpoint_folders(root, callbacks) if f.is_dir() for p in f.glob("last*.ckpt")]
            ckpt_path = max(found, key=lambda p: p.stat().st_mtime) if found else None  # unreadable: no run id
        if not ckpt_path or not Path(ckpt_path).is_file():
            return None
        return checkpoint_run_id(ckpt_path)


COMMAND_HELP: dict[str, str] = {
    "fit": "pretrain a method or train a transfer task from a recipe (--config recipes/...)",
    "validate": "run the validation loop of a recipe on a checkpoint (--ckpt_path)",
    "test": "score a checkpoint on the test split of a recipe's data (--ckpt_path)",
    "predict": "run the prediction loop of a recipe on a checkpoint",
    "report": "write one self-contained HTML report of one or more runs (sslkit report RUN_DIR [RUN_DIR ...])",
}


def usage() -> str:
    """The top-level help: every command with one line."""
    from sslkit.commands import COMMANDS, summary

    rows = list(COMMAND_HELP.items()) + [(c, summary(c)) for c in COMMANDS]
    width = max(len(c) for c, _ in rows)
    lines = ["usage: sslkit <command> [options]   (sslkit <command> --help lists a command's options)", "",
             "Self-supervised pretraining and transfer learning on PyTorch Lightning.", "", "commands:"]
    lines += [f"  {c.ljust(width)}  {text}" for c, text in rows]
    lines += ["", "Errors print one short message; set SSLKIT_DEBUG=1 for the full traceback.",
              "Example: sslkit fit --config recipes/pretrain/digits/simclr.yaml"]
    return "\n".join(lines)


def _chain(err: BaseException) -> list[BaseException]:
    out = []
    while err is not None and err not in out:
        out.append(err)
        err = err.__cause__ or err.__context__
    return out


def _raised_in_sslkit(err: BaseException) -> bool:
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and f"{os.sep}sslkit{os.sep}" in last


def explain(err: BaseException, argv: list[str]) -> str | None:
    """A one- or two-line message for an error caused by the user's input, or ``None`` for a bug (full traceback)."""
    chain = _chain(err)
    for e in chain:
        text = str(e)
        if "No supported gpu backend found" in text or "CUDAAccelerator` can not run on your system" in text:
            return ("this recipe asks for a GPU (trainer.accelerator: gpu), and this machine has none. Run it on a GPU "
                    "machine, or for a CPU smoke run add --trainer.accelerator=cpu --trainer.devices=1 "
                    "--trainer.precision=32-true --trainer.strategy=auto --trainer.sync_batchnorm=false")
    for e in chain:  # a full disk or an unwritable folder
        if isinstance(e, CheckpointWriteError):
            return e.strerror
        if isinstance(e, OSError) and e.errno in WRITE_ERRNOS and e.filename:
            return write_error_message(e.filename, e)
    ckpt = _ckpt_arg(argv)
    if ckpt is not None and ckpt != "last" and any(_is_checkpoint_failure(e) for e in chain):
        root = chain[-1]
        reason = str(root).strip().splitlines()[0] if str(root).strip() else f"{type(root).__name__}: the file ended early"
        if "Weights only load failed" in str(root):
            reason = "it is not a plain-tensor checkpoint"
        return (f"cannot load the checkpoint {ckpt}: it is truncated, corrupt or not a Lightning checkpoint "
                f"(torch.load: {reason[:160]}). Pass a .ckpt written by sslkit fit, or drop --ckpt_path to start fresh.")
    for e in reversed(chain):  # the root cause first
        if isinstance(e, (ValueError, TypeError, FileNotFoundError, KeyError)) and _raised_in_sslkit(e):
            where = _class_in_wrapper(chain)
            return f"{where + ': ' if where else ''}{e}"
    return None


def _ckpt_arg(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a.startswith("--ckpt_path="):
            return a.split("=", 1)[1]
        if a == "--ckpt_path" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _is_checkpoint_failure(e: BaseException) -> bool:
    import pickle

    text = str(e)
    return (isinstance(e, (pickle.UnpicklingError, EOFError)) or "PytorchStreamReader" in text or "Weights only load failed" in text
            or "failed finding central directory" in text or "invalid load key" in text)


def _class_in_wrapper(chain: list[BaseException]) -> str | None:
    """The class a jsonargparse validation error was instantiating (``Given value: Namespace(class_path='...'``)."""
    import re

    for e in chain:
        m = re.search(r"class_path='([\w.]+)'", str(e))
        if m:
            return m.group(1)
    return None


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``sslkit`` console script.

    Errors caused by the input (a bad value, a missing file, a GPU recipe on a
    CPU machine, a file that is not a checkpoint, a class that does not import)
    print one short message and exit with status 2; ``SSLKIT_DEBUG=1`` shows the
    full traceback. The working directory comes first on ``sys.path``, so recipes
    name classes of the user's own files (``class_path: my_flip.FlipPrediction``).
    """
    import sys

    from sslkit.commands import COMMANDS, run

    from sslkit.utils.user_code import add_working_directory, check_class_paths

    add_working_directory()  # recipes may name classes in the user's own files, as under `python -m`
    argv = sys.argv[1:] if args is None else list(args)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    try:
        if not os.environ.get("SSLKIT_DEBUG"):  # one line per class that does not import (else the parser's text)
            check_class_paths(argv[1:])
        if argv[0] in COMMANDS:  # export, label-efficiency, cross-domain, adapt
            run(argv[0], argv[1:])
        elif argv[0] == "report":
            from sslkit.report.command import main as report

            report(argv[1:])
        else:
            SSLKitCLI(args=args)  # None from the console: LightningCLI reads sys.argv itself
    except Exception as err:  # noqa: BLE001  (re-raised below unless it is the user's input)
        message = None if os.environ.get("SSLKIT_DEBUG") else explain(err, argv)
        if message is None:
            raise
        print(f"sslkit: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
