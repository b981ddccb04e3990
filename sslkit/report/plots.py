"""Matplotlib figures of a report, returned as ``data:image/png;base64`` URIs (nothing is linked)."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

from sslkit.report.run import LabelEfficiency, Run
from sslkit.utils.plotting import pyplot, save_figure

#: Curve groups: title and the metric columns (a trailing ``*`` matches a prefix), in display order.
GROUPS: list[tuple[str, list[str]]] = [
    ("Loss terms", ["train/*"]),
    ("Learning rate", ["lr-*"]),
    ("Online evaluation: linear probe and kNN", ["probe/linear_acc", "knn/acc", "probe/train_loss"]),
    ("Collapse", ["collapse/std", "collapse/rank"]),
]
SKIP = ("summary/",)  # single end-of-run numbers: shown in tables, not as curves


def _matches(column: str, pattern: str) -> bool:
    return column.startswith(pattern[:-1]) if pattern.endswith("*") else column == pattern


def curve_groups(runs: list[Run]) -> list[tuple[str, list[str]]]:
    """The groups with at least one column logged by some run; other columns go to ``Other metrics``."""
    columns: dict[str, None] = {}
    for run in runs:
        for c in run.columns:
            if not c.startswith(SKIP):
                columns.setdefault(c)
    out, used = [], set()
    for title, patterns in GROUPS:
        found = [c for p in patterns for c in columns if _matches(c, p) and c not in used]
        used.update(found)
        if found:
            out.append((title, found))
    rest = [c for c in columns if c not in used]
    if rest:
        out.append(("Other metrics", rest))
    return out


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def file_uri(path: Path) -> str:
    """An image file embedded as a data URI."""
    return data_uri(Path(path).read_bytes())


def _save(fig) -> str:
    buf = io.BytesIO()
    save_figure(fig, buf, dpi=90, format="png")
    return data_uri(buf.getvalue())


def curves(runs: list[Run], columns: list[str], title: str) -> str:
    """One subplot per column against the step, one line per run (overlaid), as a data URI."""
    plt = pyplot()
    n = len(columns)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax, column in zip(axes.flat, columns):
        for i, run in enumerate(runs):
            s = run.series(column)
            if not s:
                continue
            xs, ys = zip(*s)
            ax.plot(xs, ys, marker="o" if len(s) <= 30 else None, ms=3, lw=1.3, color=f"C{i % 10}",
                    label=run.name if len(runs) > 1 else None)
        ax.set_title(column, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if len(runs) > 1:
        handles = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 5), fontsize=8,
                   frameon=False)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout(rect=(0, 0.08 if nrows == 1 else 0.05, 1, 1))
    else:
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
    return _save(fig)


def lr_curves(runs: list[Run], columns: list[str]) -> str:
    """Every learning-rate column in one plot: one line per run and distinct schedule (identical param groups drawn once)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    for i, run in enumerate(runs):
        drawn: list[list[tuple[float, float]]] = []
        for column in columns:
            s = run.series(column)
            if not s or s in drawn:
                continue
            drawn.append(s)
            xs, ys = zip(*s)
            label = f"{run.name}: {column}" if len(runs) > 1 else column
            ax.plot(xs, ys, marker="o" if len(s) <= 30 else None, ms=3, lw=1.3, color=f"C{i % 10}",
                    ls=["-", "--", ":", "-."][(len(drawn) - 1) % 4], label=label)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("learning rate", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.suptitle("Learning rate (param groups with the same schedule drawn once)", fontsize=10)
    fig.tight_layout()
    return _save(fig)


def summary_bars(runs: list[Run]) -> str | None:
    """Linear accuracy of the SSL backbone vs. its initialisation (summary.json), one pair of bars per run."""
    have = [r for r in runs if r.summary and "linear_acc_ssl" in r.summary]
    if not have:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(have) + 2), 3.2))
    xs = range(len(have))
    ssl = [100 * r.summary["linear_acc_ssl"] for r in have]
    init = [100 * r.summary.get("linear_acc_init", float("nan")) for r in have]
    ax.bar([x - 0.2 for x in xs], init, 0.4, label="initialisation", color="0.7")
    ax.bar([x + 0.2 for x in xs], ssl, 0.4, label="self-supervised", color="C0")
    tilt = len(have) > 3
    ax.set_xticks(list(xs), [r.name for r in have], rotation=20 if tilt else 0, fontsize=8, ha="right" if tilt else "center")
    ax.set_ylabel("test accuracy (%)", fontsize=8)
    ax.set_title("Frozen backbone + logistic regression (summary.json)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig)


def sweep_plot(sweep: LabelEfficiency) -> str:
    """The sweep's own ``label_efficiency.png`` if present, else redrawn from ``results.csv``."""
    if sweep.plot is not None:
        return file_uri(sweep.plot)
    import tempfile

    from sslkit.transfer.label_efficiency import plot

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "label_efficiency.png"
        plot(sweep.rows, path)
        return file_uri(path)
