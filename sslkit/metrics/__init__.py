"""Evaluation metrics on frozen features."""

from sslkit.metrics.knn import KNNAccuracy, knn_predict
from sslkit.metrics.mlm import MaskedLMMetrics

__all__ = ["KNNAccuracy", "MaskedLMMetrics", "knn_predict"]
