"""Evaluation metrics on frozen features."""

from sslkit.metrics.knn import KNNAccuracy, knn_predict

__all__ = ["KNNAccuracy", "knn_predict"]
