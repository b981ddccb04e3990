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
