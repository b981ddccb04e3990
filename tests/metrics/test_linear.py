"""sslkit.metrics.linear: the linear-evaluation primitives (L-BFGS probe, AdamW head, scikit-learn pipelines)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import blobs as _blobs


# ---------------------------------------------------------------------------------------------- fit_logistic
def test_fit_logistic_matches_scikit_learn():
    """Same objective as StandardScaler + LogisticRegression(C=1): same probabilities, not just the same argmax."""
    from sslkit.metrics.linear import fit_logistic
    from sslkit.metrics.linear import classic_classifier

    x, y = _blobs()
    probe, loss = fit_logistic(x, y, 3, l2=1.0)
    clf = classic_classifier("logistic", tol=1e-8).fit(x.double().numpy(), y.numpy())
    ours = torch.softmax(probe(x), dim=1).double().numpy()
    np.testing.assert_allclose(ours, clf.predict_proba(x.double().numpy()), atol=2e-4)
    ref_loss = -np.mean(np.log(clf.predict_proba(x.double().numpy())[np.arange(len(y)), y.numpy()]))
    assert loss == pytest.approx(ref_loss, abs=1e-4)
    assert not probe.weight.requires_grad and probe.weight.dtype == torch.float32


def test_fit_logistic_closed_form_two_symmetric_points():
    """n/2 samples at z=+1 (class 1), n/2 at z=-1 (class 0): logit gap 2a z with l2 * a = n * sigmoid(-2a)."""
    from sslkit.metrics.linear import fit_logistic

    n, l2 = 10, 4.0
    x = torch.tensor([[1.0]] * (n // 2) + [[-1.0]] * (n // 2)) * 5.0 + 7.0  # raw scale 5, offset 7: folding undoes both
    y = torch.tensor([1] * (n // 2) + [0] * (n // 2))
    lo, hi = 0.0, 10.0
    for _ in range(100):  # bisection for the stationary point of n * log(1 + exp(-2a)) + l2 * a^2
        a = (lo + hi) / 2
        lo, hi = (a, hi) if l2 * a < n * torch.sigmoid(torch.tensor(-2 * a)).item() else (lo, a)
    probe, _ = fit_logistic(x, y, 2, l2=l2, tol=1e-7)
    gap = probe.weight[1] - probe.weight[0]
    assert gap.item() == pytest.approx(2 * a / 5.0, rel=1e-4)  # 2a per standardised unit = 2a / 5 per raw unit
    logits = probe(torch.tensor([[7.0]]))  # the mean: exactly on the boundary
    assert (logits[0, 1] - logits[0, 0]).abs().item() < 1e-4


def test_fit_logistic_under_inference_mode_and_autocast():
    """Lightning may call evaluation hooks under inference mode (and bf16 autocast): same fit as outside."""
    from sslkit.metrics.linear import fit_logistic

    x, y = _blobs()
    ref, _ = fit_logistic(x, y, 3)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        probe, _ = fit_logistic(x.clone(), y.clone(), 3)
    assert probe.weight.dtype == torch.float32
    torch.testing.assert_close(probe.weight, ref.weight, rtol=0, atol=0)


def test_fit_logistic_keeps_constant_features_finite():
    from sslkit.metrics.linear import fit_logistic

    x, y = _blobs(d=4)
    x = torch.cat([x, torch.full((len(y), 2), 5.0)], dim=1)  # two dead units
    probe, loss = fit_logistic(x, y, 3)
    assert torch.isfinite(probe.weight).all() and torch.isfinite(probe.bias).all() and math.isfinite(loss)
    assert (probe(x).argmax(1) == y).float().mean() > 0.8


def test_fit_logistic_validates_arguments():
    from sslkit.metrics.linear import fit_logistic

    x, y = _blobs()
    with pytest.raises(ValueError, match="num_classes >= 2"):
        fit_logistic(x, y, 1)
    with pytest.raises(ValueError, match="features"):
        fit_logistic(x[:0], y[:0], 3)


# ---------------------------------------------------------------------------------------------- AdamW head and score
def test_train_linear_head_standardises_and_separates():
    """The first module standardises the training features exactly; the head separates well-spread blobs."""
    from sslkit.metrics.linear import score, train_linear_head

    x, y = _blobs()
    head = train_linear_head(x, y, 3, steps=200, seed=0)
    z = head[0](x)
    torch.testing.assert_close(z.mean(0), torch.zeros(x.shape[1]), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(x.shape[1]), atol=1e-5, rtol=0)
    acc = score(head, {"train": (x, y)})["train"]
    assert acc == pytest.approx(float((head(x).argmax(1) == y).float().mean())) and acc > 0.9
    again = train_linear_head(x, y, 3, steps=200, seed=0)  # seeded: the same head twice
    torch.testing.assert_close(again[1].weight, head[1].weight, rtol=0, atol=0)


def test_score_counts_hand_made_predictions():
    """Logits chosen by hand: 3 of 4 right on one set, 0 of 2 on another."""
    from sslkit.metrics.linear import score

    head = torch.nn.Identity()
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    out = score(head, {"a": (logits, torch.tensor([0, 1, 0, 0])), "b": (logits[:2], torch.tensor([1, 0]))})
    assert out == {"a": 0.75, "b": 0.0}


def test_linear_eval_is_the_scikit_learn_logistic_pipeline():
    """linear_eval == StandardScaler + LogisticRegression scored on the test features, and beats chance on blobs."""
    from sslkit.metrics.linear import classic_classifier, linear_eval

    x, y = _blobs(n=400)
    train, test = (x[:300].numpy(), y[:300].numpy()), (x[300:].numpy(), y[300:].numpy())
    expected = classic_classifier("logistic").fit(*train).score(*test)
    assert linear_eval(train, test) == expected and expected > 0.8
