"""Evaluation and monitoring callbacks; they use only the methods' ``embed`` (and ``preview_images``) contract."""

from sslkit.callbacks.collapse import CollapseMonitor
from sslkit.callbacks.dashboard import EmbeddingMap, RetrievalGrid, ViewsGrid
from sslkit.callbacks.data_health import UnreadableFilesMonitor
from sslkit.callbacks.guards import NonFiniteError, NonFiniteGuard, ViewSizeCheck
from sslkit.callbacks.images import ImageGrid
from sslkit.callbacks.probe import KNNMonitor, OnlineLinearProbe
from sslkit.callbacks.resume import ResumeState
from sslkit.callbacks.speed import SpeedMonitor
from sslkit.callbacks.summary import LinearEvalSummary

__all__ = ["CollapseMonitor", "EmbeddingMap", "ImageGrid", "KNNMonitor", "LinearEvalSummary", "NonFiniteError", "NonFiniteGuard",
           "OnlineLinearProbe", "ResumeState", "RetrievalGrid", "SpeedMonitor", "UnreadableFilesMonitor",
           "ViewSizeCheck", "ViewsGrid"]
