"""Run ``sslkit`` on this rank while recording what it writes, then dump what the rank saw.

Usage::

    python tests/utils/ddp_fit.py <record_dir> <watch_dir> fit --config ... [sslkit options]

Lightning's DDP launcher re-runs this same command line for every other rank
(with ``LOCAL_RANK`` set), so each rank installs the same recorders:

* an audit hook (:func:`sys.addaudithook`) that lists every file or folder the
  process creates, opens for writing, renames or removes under ``watch_dir``;
* a wrapper around ``Trainer.fit`` that, after fitting, saves the rank's
  ``callback_metrics``, global step, evaluation shard sizes and training shard.

Both go to ``<record_dir>/rank<r>.json``, outside ``watch_dir``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

RECORD, WATCH = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
RANK = int(os.environ.get("LOCAL_RANK", "0"))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
writes: list[str] = []


def _watched(path: object) -> str | None:
    if not isinstance(path, (str, bytes, os.PathLike)):
        return None  # a file descriptor
    p = Path(os.fsdecode(path))
    p = (p if p.is_absolute() else Path.cwd() / p).resolve()
    return str(p.relative_to(WATCH)) if p.is_relative_to(WATCH) else None


def _audit(event: str, args: tuple) -> None:
    if event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS:
            rel = _watched(path)
            if rel is not None:
                writes.append(rel)
    elif event in ("os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree"):
        rel = _watched(args[0])
        if rel is not None:
            writes.append(f"{event}:{rel}")
    elif event in ("os.rename", "os.replace", "os.link", "os.symlink", "shutil.copyfile", "shutil.move"):
        for path in args[:2]:  # a file moved in from elsewhere (e.g. an atomic checkpoint save) counts as written
            rel = _watched(path)
            if rel is not None:
                writes.append(f"{event}:{rel}")


def _dump(trainer) -> None:
    train_sampler = trainer.train_dataloader.sampler
    record = {
        "rank": trainer.global_rank,
        "world_size": trainer.world_size,
        "global_step": trainer.global_step,
        "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
        "eval_samples": [len(dl.sampler) for dl in trainer.val_dataloaders],
        "train_shard": list(train_sampler),
        "writes": sorted(set(writes)),
    }
    RECORD.mkdir(parents=True, exist_ok=True)
    (RECORD / f"rank{RANK}.json").write_text(json.dumps(record))


def main() -> None:
    sys.addaudithook(_audit)
    import lightning.pytorch as pl

    fit = pl.Trainer.fit

    @functools.wraps(fit)  # the CLI reads fit's signature (ckpt_path, ...)
    def fit_and_record(self, *args, **kwargs):
        fit(self, *args, **kwargs)
        _dump(self)

    pl.Trainer.fit = fit_and_record
    from sslkit.cli import main as sslkit_main

    sslkit_main(sys.argv[3:])


if __name__ == "__main__":
    main()
