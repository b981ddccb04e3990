"""Linear evaluation of frozen features: the one home of every probe sslkit fits.

Three fitters of one model family, each for its caller, all on features
standardised per dimension:

* :func:`fit_logistic`: multinomial logistic regression solved by full-batch
  L-BFGS (the online probe, :class:`~sslkit.callbacks.OnlineLinearProbe`);
* :func:`train_linear_head`: the same model by a fixed number of AdamW steps
  (the ``linear`` strategy of the transfer sweeps);
* :func:`classic_classifier` / :func:`fit_score`: scikit-learn pipelines
  (logistic regression, linear SVM, random forest, kNN; the offline probe of
  :class:`~sslkit.callbacks.LinearEvalSummary` is :func:`linear_eval`).

Features come from :func:`sslkit.utils.features.extract_features` (re-exported
here); :func:`score` is the accuracy of a fitted head on feature tensors. This
module sits below callbacks and transfer: it imports torch, scikit-learn and
``sslkit.utils`` only.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from sslkit.utils.features import extract_features

__all__ = ["CLASSIC", "ClassicName", "classic_classifier", "extract_features", "fit_logistic", "fit_score",
           "linear_eval", "score", "train_linear_head"]


# ---------------------------------------------------------------------------------------------- L-BFGS
def fit_logistic(features: torch.Tensor, labels: torch.Tensor, num_classes: int, l2: float = 1.0,
                 max_iter: int = 500, tol: float = 1e-5) -> tuple[nn.Linear, float]:
    """Multinomial logistic regression on standardised features, returned as one linear layer on raw features.

    Each feature is standardised with the mean and (population) standard
    deviation of ``features`` (a constant feature keeps scale 1), then
    ``mean_i CE(W z_i + b, y_i) + l2 / (2 N) * ||W||^2`` is minimised by
    full-batch L-BFGS in float32 from zero weights, so the fit is deterministic.
    This is the objective of scikit-learn's ``StandardScaler`` +
    ``LogisticRegression(C=1 / l2)``, the offline probe of
    :func:`linear_eval`. The scaling is folded into
    the returned layer: ``W' = W / std``, ``b' = b - W' mean``.

    Args:
        features: ``(N, D)`` training features.
        labels: ``(N,)`` integer labels in ``[0, num_classes)``.
        num_classes: number of classes.
        l2: L2 penalty on the summed cross-entropy (scikit-learn's ``1 / C``); the bias is not penalised.
        max_iter: L-BFGS iterations at most.
        tol: stop when every gradient entry is below ``tol`` in absolute value.

    Returns:
        The fitted ``nn.Linear(D, num_classes)`` (float32, on the features' device) and its mean
        training cross-entropy.
    """
    if features.ndim != 2 or labels.shape != features.shape[:1] or features.shape[0] == 0:
        raise ValueError(f"fit_logistic needs (N > 0, D) features and (N,) labels, got {tuple(features.shape)} "
                         f"and {tuple(labels.shape)}")
    if num_classes < 2 or l2 <= 0 or max_iter < 1 or tol <= 0:
        raise ValueError("fit_logistic needs num_classes >= 2, l2 > 0, max_iter >= 1 and tol > 0")
    # callable from Lightning's evaluation hooks, which may run under inference mode and autocast
    no_autocast = torch.autocast(device_type=features.device.type, enabled=False)
    with torch.inference_mode(False), torch.enable_grad(), no_autocast:
        x = features.detach().float()
        x, labels = (t.clone() if t.is_inference() else t for t in (x, labels))  # inference tensors refuse autograd
        mean = x.mean(dim=0)
        std = x.std(dim=0, unbiased=False)
        std = torch.where(std > 1e-6 * mean.abs().clamp_min(1.0), std, torch.ones_like(std))
        z = (x - mean) / std
        weight = torch.zeros(num_classes, x.shape[1], device=x.device, requires_grad=True)
        bias = torch.zeros(num_classes, device=x.device, requires_grad=True)
        penalty = 0.5 * l2 / x.shape[0]
        opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=tol,
                                tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(z @ weight.T + bias, labels) + penalty * weight.square().sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            ce = float(F.cross_entropy(z @ weight.T + bias, labels))
            probe = skip_init(nn.Linear, x.shape[1], num_classes, device=x.device)  # draws no random numbers
            probe.weight.copy_(weight / std)
            probe.bias.copy_(bias - probe.weight @ mean)
    return probe.requires_grad_(False), ce


# ---------------------------------------------------------------------------------------------- AdamW
def train_linear_head(x: torch.Tensor, y: torch.Tensor, num_classes: int, steps: int = 300, lr: float = 1e-2,
                      weight_decay: float = 1e-4, seed: int = 0) -> nn.Module:
    """Logistic regression on standardised features by ``steps`` full-batch AdamW steps: the sweeps' ``linear``.

    The same model as :func:`fit_logistic` (a linear layer on features
    standardised by their mean and population std), trained by a fixed number
    of AdamW steps from a seeded random initialisation instead of solved to
    convergence; the standardisation is kept as a first module.

    Args:
        x: ``(N, D)`` training features.
        y: ``(N,)`` integer labels.
        num_classes: number of classes.
        steps: full-batch optimizer steps.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        seed: seed of the head's initialisation.

    Returns:
        ``nn.Sequential(standardise, nn.Linear(D, num_classes))`` on raw features.
    """
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-12)
    head = nn.Linear(x.shape[1], num_classes)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    z = (x - mean) / std
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(head(z), y).backward()
        opt.step()
    return nn.Sequential(_Standardise(mean, std), head)


class _Standardise(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@torch.no_grad()
def score(head: nn.Module, tests: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Top-1 accuracy of ``head`` (features -> logits) on each ``(features, labels)`` test set."""
    return {k: float((head(x).argmax(1) == y).float().mean()) for k, (x, y) in tests.items()}


# ---------------------------------------------------------------------------------------------- scikit-learn
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


def linear_eval(train: tuple, test: tuple) -> float:
    """Test accuracy of a standardised logistic regression (scikit-learn) fitted on ``train`` features."""
    return fit_score("logistic", train, {"test": test})["test"]
