import pytest
import torch

from sslkit.callbacks import LinearEvalSummary
from sslkit.methods import SimCLR


def test_summary_compares_trained_and_fresh_backbones(digits):
    torch.manual_seed(0)
    method = SimCLR(backbone="tiny_cnn", backbone_kwargs={"widths": [8, 16]}, num_classes=10)
    trained = method.backbone
    result = LinearEvalSummary(label_fraction=0.1).evaluate(method, digits)
    assert result["n_train"] == len(digits.labelled_indices(0.1)) and result["n_test"] == 360
    assert 0.3 < result["linear_acc_ssl"] <= 1.0  # even random conv features beat chance (0.1) on digits
    assert 0.3 < result["linear_acc_init"] <= 1.0
    assert method.backbone is trained and method.training  # the trained backbone and train mode are restored
    text = LinearEvalSummary.format(result)
    assert "10% of the training labels" in text and "gain from pretraining" in text


def test_invalid_fraction():
    with pytest.raises(ValueError, match="label_fraction"):
        LinearEvalSummary(label_fraction=0)


def test_summary_follows_the_run_seed(digits, monkeypatch):
    """Unset, the label subset and fresh init follow seed_everything (PL_GLOBAL_SEED); a given seed pins them."""
    import lightning as L

    torch.manual_seed(0)
    method = SimCLR(backbone="tiny_cnn", backbone_kwargs={"widths": [8, 16]}, num_classes=10)
    subsets, results = {}, {}
    for seed in (1, 2):
        L.seed_everything(seed)
        summary = LinearEvalSummary(label_fraction=0.1)
        assert summary.run_seed() == seed
        subsets[seed] = digits.labelled_dataset("train", fraction=0.1, seed=summary.run_seed()).indices
        results[seed] = summary.evaluate(method, digits)
        assert results[seed]["seed"] == seed
    assert sorted(subsets[1]) != sorted(subsets[2])  # control: a fixed seed would draw one subset for both runs
    assert results[1]["linear_acc_init"] != results[2]["linear_acc_init"]  # different subsets and fresh inits
    L.seed_everything(2)
    assert LinearEvalSummary(label_fraction=0.1, seed=0).run_seed() == 0
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    assert LinearEvalSummary(label_fraction=0.1).run_seed() == 0
