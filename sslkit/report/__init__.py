"""``sslkit report RUN_DIR [RUN_DIR ...]``: one self-contained HTML file per set of runs.

Curves of every logged metric (overlaid across runs), a comparison table whose
numbers come from ``metrics.csv`` and ``summary.json``, the dashboard panels,
the resolved config and the package versions. Plots are embedded as data URIs;
the file opens from disk without a network.
"""

from sslkit.report.build import render, report_after_fit, write_report
from sslkit.report.run import Run, load_run

__all__ = ["Run", "load_run", "render", "report_after_fit", "write_report"]
