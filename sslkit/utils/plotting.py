"""The shared matplotlib set-up of every figure sslkit draws (dashboard panels, sweep curves, reports).

Figures are drawn off-screen (the ``Agg`` backend: no display, safe in
DataLoader workers and on headless machines) and always closed after saving,
so long runs do not accumulate open figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any


def pyplot():
    """``matplotlib.pyplot`` on the off-screen ``Agg`` backend (imported on first use: matplotlib is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, target: Path | IO[bytes], dpi: int, **kwargs: Any) -> None:
    """Save ``fig`` to a path (its folder is created) or a binary buffer, then close it.

    Args:
        fig: the matplotlib figure.
        target: file path, or a buffer such as ``io.BytesIO`` (pass ``format="png"``).
        dpi: resolution.
        **kwargs: forwarded to ``fig.savefig`` (e.g. ``format``).
    """
    if isinstance(target, (str, Path)):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(target, dpi=dpi, **kwargs)
    finally:
        pyplot().close(fig)
