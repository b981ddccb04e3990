"""Evaluation metrics on frozen features."""

from sslkit.metrics.collapse import effective_rank, embedding_std
from sslkit.metrics.knn import KNNAccuracy, knn_predict
from sslkit.metrics.mlm import MaskedLMMetrics

__all__ = ["KNNAccuracy", "MaskedLMMetrics", "effective_rank", "embedding_std", "knn_predict"]
