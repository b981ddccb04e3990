"""Reading a run directory: metrics.csv, summary.json, config, versions and panel files."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sslkit.callbacks.dashboard import DASHBOARD_DIR

#: CSV files a label-efficiency sweep writes (sslkit.transfer.label_efficiency).
SWEEP_COLUMNS = {"backbone", "strategy", "fraction", "seed", "acc"}


@dataclass
class LabelEfficiency:
    """The outputs of one ``sslkit label-efficiency`` sweep: ``results.csv`` rows and ``label_efficiency.png``."""

    path: Path
    rows: list[dict[str, Any]]
    plot: Path | None


@dataclass
class Run:
    """What a report shows about one run directory.

    Attributes:
        path: the run directory (``trainer.default_root_dir``).
        name: its folder name.
        rows: metrics.csv rows (numbers as floats, empty cells dropped), every CSV version merged (see :func:`read_metrics`).
        summary: ``summary.json`` (LinearEvalSummary), if any.
        config_text: the resolved ``config.yaml`` of the latest CSV version, if any.
        versions: ``versions.json`` (package versions), if any.
        panels: image files by panel: ``views``, ``embedding_map``, ``retrieval``, ``preview``.
        label_efficiency: label-efficiency sweeps found under the directory.
    """

    path: Path
    name: str
    rows: list[dict[str, float]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    config_text: str | None = None
    versions: dict[str, str] | None = None
    panels: dict[str, Path] = field(default_factory=dict)
    label_efficiency: list[LabelEfficiency] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Every metric column, in first-seen order (without ``step`` and ``epoch``)."""
        seen: dict[str, None] = {}
        for r in self.rows:
            for k in r:
                if k not in ("step", "epoch"):
                    seen.setdefault(k)
        return list(seen)

    def series(self, column: str) -> list[tuple[float, float]]:
        """``(step, value)`` of every logged value of ``column``, in order."""
        return [(r.get("step", i), r[column]) for i, r in enumerate(self.rows) if column in r]

    def final(self, column: str) -> float | None:
        """The last logged value of ``column`` (``None`` if never logged)."""
        s = self.series(column)
        return s[-1][1] if s else None

    @property
    def epochs(self) -> int | None:
        epochs = [r["epoch"] for r in self.rows if "epoch" in r]
        return int(max(epochs)) + 1 if epochs else None

    @property
    def steps(self) -> int | None:
        steps = [r["step"] for r in self.rows if "step" in r]
        return int(max(steps)) + 1 if steps else None

    def config_value(self, *keys: str) -> str | None:
        """A value of the resolved config, e.g. ``("model", "class_path")``."""
        if self.config_text is None:
            return None
        import yaml

        node: Any = yaml.safe_load(self.config_text)
        for k in keys:
            if not isinstance(node, dict) or k not in node:
                return None
            node = node[k]
        return node if isinstance(node, (str, int, float)) else None

    @property
    def method(self) -> str:
        path = self.config_value("model", "class_path")
        return path.rsplit(".", 1)[-1] if path else "?"


def _version(p: Path) -> int:
    m = re.search(r"version_(\d+)$", p.parent.name)
    return int(m.group(1)) if m else -1


def metrics_files(root: Path) -> list[Path]:
    """The ``csv/version_*/metrics.csv`` files of a run, oldest version first."""
    return sorted((root / "csv").glob("version_*/metrics.csv"), key=_version)


def read_metrics(files: list[Path]) -> list[dict[str, float]]:
    """The rows of several CSV versions as one history.

    A later version replaces every earlier row from its first step on: a resumed
    run (``--ckpt_path last``) continues the history, a fresh run into the same
    folder (starting at step 0) replaces it.
    """
    rows: list[dict[str, float]] = []
    for path in files:
        with open(path, newline="") as f:
            new = [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]
        steps = [r["step"] for r in new if "step" in r]
        if steps:
            first = min(steps)
            rows = [r for r in rows if r.get("step", -1) < first]
        rows += new
    return rows


def _latest_image(folder: Path) -> Path | None:
    """The ``<epoch>.png`` of the highest epoch in ``folder``."""
    found = [p for p in folder.glob("*.png") if p.stem.isdigit()] if folder.is_dir() else []
    return max(found, key=lambda p: int(p.stem)) if found else None


def find_sweeps(root: Path) -> list[LabelEfficiency]:
    """Label-efficiency outputs (``results.csv`` with the sweep's columns) in ``root`` and its subfolders (depth 2)."""
    out = []
    for path in sorted({*root.glob("results.csv"), *root.glob("*/results.csv"), *root.glob("*/*/results.csv")}):
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if not SWEEP_COLUMNS <= set(reader.fieldnames or ()):
                continue
            rows = list(reader)
        plot = path.parent / "label_efficiency.png"
        out.append(LabelEfficiency(path.parent, rows, plot if plot.is_file() else None))
    return out


def load_run(path: str | Path) -> Run:
    """Read a run directory (``sslkit fit``'s ``default_root_dir``) or a label-efficiency ``out_dir``.

    Raises:
        ValueError: when ``path`` is neither.
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory; pass run directories (the --trainer.default_root_dir of "
                         "sslkit fit, e.g. runs/digits-simclr)")
    files = metrics_files(root)
    sweeps = find_sweeps(root)
    if not files and not sweeps:
        raise ValueError(f"{root} is not an sslkit run directory: it has no csv/version_*/metrics.csv (nor a "
                         "label-efficiency results.csv); pass the --trainer.default_root_dir of an sslkit fit run "
                         "that logged with the CSV logger (the default)")
    run = Run(root, root.resolve().name, read_metrics(files), label_efficiency=sweeps)
    if (root / "summary.json").is_file():
        run.summary = json.loads((root / "summary.json").read_text())
    configs = [f.parent / "config.yaml" for f in files if (f.parent / "config.yaml").is_file()]
    if configs:
        run.config_text = configs[-1].read_text()
    for candidate in (root / "versions.json", root / "checkpoints" / "versions.json"):
        if candidate.is_file():
            run.versions = json.loads(candidate.read_text())
            break
    dash = root / DASHBOARD_DIR
    panels = {"views": dash / "views.png" if (dash / "views.png").is_file() else None,
              "embedding_map": _latest_image(dash / "embedding_map"),
              "retrieval": _latest_image(dash / "retrieval"),
              "preview": _latest_image(root / "images")}
    run.panels = {k: v for k, v in panels.items() if v is not None}
    return run
