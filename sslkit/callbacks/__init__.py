"""Evaluation and monitoring callbacks; they use only the methods' ``embed`` contract."""

from sslkit.callbacks.probe import KNNMonitor, OnlineLinearProbe
from sslkit.callbacks.summary import LinearEvalSummary

__all__ = ["KNNMonitor", "LinearEvalSummary", "OnlineLinearProbe"]
