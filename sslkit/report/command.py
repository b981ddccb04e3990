"""``sslkit report RUN_DIR [RUN_DIR ...] [--out FILE] [--title TEXT]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sslkit report", description=SUMMARY + ". Plots are embedded; it opens from disk.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories (the --trainer.default_root_dir of sslkit fit) or label-efficiency out_dirs")
    p.add_argument("--out", default=None, help="HTML file to write (default: RUN_DIR/report.html for one run, "
                   "./report.html for several)")
    p.add_argument("--title", default=None, help="page title")
    return p


SUMMARY = "write one self-contained HTML report (curves, comparison table, panels, config) of one or more runs"


def main(args: list[str]) -> Path:
    """Parse ``args`` and write the report; prints its path."""
    from sslkit.report.build import write_report

    ns = parser().parse_args(args)
    out = ns.out or (Path(ns.run_dirs[0]) / "report.html" if len(ns.run_dirs) == 1 else Path("report.html"))
    path = write_report(ns.run_dirs, out, ns.title)
    print(f"wrote {path}")
    return path
