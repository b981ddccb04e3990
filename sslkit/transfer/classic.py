"""Classic classifiers on frozen features (scikit-learn): logistic regression, linear SVM, random forest, kNN."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

ClassicName = Literal["logistic", "linear_svm", "random_forest", "knn"]
CLASSIC: tuple[str, ...] = ("logistic", "linear_svm", "random_forest", "knn")


def classic_classifier(name: str, seed: int = 0, **kwargs: Any):
    """A scikit-learn pipeline (standardisation + classifier) for frozen features.

    Args:
        name: ``logistic`` (multinomial logistic regression), ``linear_svm``
            (``LinearSVC``), ``random_forest`` or ``knn`` (cosine, 20 neighbours).
        seed: random state of the classifier.
        **kwargs: forwarded to the scikit-learn estimator (e.g. ``C``, ``n_estimators``).
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if name == "logistic":
        model = LogisticRegression(**{"max_iter": 2000, "random_state": seed, **kwargs})
    elif name == "linear_svm":
        model = LinearSVC(**{"C": 0.1, "max_iter": 5000, "random_state": seed, **kwargs})
    elif name == "random_forest":
        model = RandomForestClassifier(**{"n_estimators": 200, "random_state": seed, "n_jobs": 1, **kwargs})
    elif name == "knn":
        model = KNeighborsClassifier(**{"n_neighbors": 20, "metric": "cosine", "weights": "distance", **kwargs})
    else:
        raise ValueError(f"unknown classic classifier {name!r}; choose one of {CLASSIC}")
    return make_pipeline(StandardScaler(), model)


def fit_score(name: str, train: tuple[np.ndarray, np.ndarray], tests: dict[str, tuple[np.ndarray, np.ndarray]],
              seed: int = 0, **kwargs: Any) -> dict[str, float]:
    """Fit ``classic_classifier(name)`` on ``train`` features and return its accuracy on each test set."""
    x, y = (np.asarray(a) for a in train)
    if name == "knn":
        kwargs.setdefault("n_neighbors", min(20, len(y)))
    clf = classic_classifier(name, seed, **kwargs).fit(x, y)
    return {k: float(clf.score(np.asarray(tx), np.asarray(ty))) for k, (tx, ty) in tests.items()}
