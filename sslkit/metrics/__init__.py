"""Evaluation of frozen features: kNN, linear probes (:mod:`sslkit.metrics.linear`), collapse, MLM metrics."""

from sslkit.metrics.collapse import effective_rank, embedding_std
from sslkit.metrics.knn import KNNAccuracy, knn_predict
from sslkit.metrics.linear import fit_logistic, fit_score, linear_eval, train_linear_head
from sslkit.metrics.mlm import MaskedLMMetrics

__all__ = ["KNNAccuracy", "MaskedLMMetrics", "effective_rank", "embedding_std", "fit_logistic", "fit_score", "knn_predict",
           "linear_eval", "train_linear_head"]
