"""Classic classifiers on frozen features, as transfer strategies.

Their home is :mod:`sslkit.metrics.linear` (the one linear-evaluation module,
below callbacks and transfer); this module names them for the transfer side.
"""

from sslkit.metrics.linear import CLASSIC, ClassicName, classic_classifier, fit_score

__all__ = ["CLASSIC", "ClassicName", "classic_classifier", "fit_score"]
