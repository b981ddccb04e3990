import pytest
import torch

from sslkit.metrics import KNNAccuracy, knn_predict


def test_knn_predict_by_hand():
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 0, 1, 1])
    query = torch.tensor([[1.0, 0.05], [0.05, 1.0], [-1.0, 0.0]])
    # k=1: nearest by cosine; the third query is closest (least negative) to [0.1, 0.9]... it has cosine
    # -0.995 with [0.9, 0.1] and -0.110 with [0.1, 0.9], so class 1
    assert knn_predict(query, bank, labels, num_classes=2, k=1).tolist() == [0, 1, 1]


def test_weighted_vote_prefers_closer_neighbours():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.05, 1.0]])
    labels = torch.tensor([0, 1, 1])
    # two far votes for class 1 lose against one very close vote for class 0 at a low temperature
    q = torch.tensor([[1.0, 0.3]])
    assert knn_predict(q, bank, labels, 2, k=3, temperature=0.01).item() == 0
    # at a very high temperature the weights are equal and the majority wins
    assert knn_predict(q, bank, labels, 2, k=3, temperature=100.0).item() == 1


def test_chunking_is_exact():
    torch.manual_seed(0)
    bank, labels, q = torch.randn(50, 8), torch.randint(0, 5, (50,)), torch.randn(33, 8)
    assert torch.equal(knn_predict(q, bank, labels, 5, chunk_size=4), knn_predict(q, bank, labels, 5, chunk_size=1000))


def test_knn_accuracy_metric_on_separable_clusters():
    torch.manual_seed(0)
    centres = torch.eye(4) * 5
    y_bank, y_query = torch.arange(4).repeat(10), torch.arange(4).repeat(5)
    metric = KNNAccuracy(num_classes=4, k=5)
    metric.update(centres[y_bank] + torch.randn(40, 4) * 0.1, y_bank, bank=True)
    metric.update(centres[y_query] + torch.randn(20, 4) * 0.1, y_query)
    assert metric.compute().item() == 1.0
    metric.reset()
    metric.update(torch.randn(40, 4), y_bank, bank=True)
    metric.update(torch.randn(200, 4), torch.randint(0, 4, (200,)))
    assert metric.compute().item() < 0.5  # random features: near chance (0.25)


def test_bank_cap_and_unlabelled_skipped():
    metric = KNNAccuracy(num_classes=2, max_bank=3)
    metric.update(torch.randn(5, 2), torch.tensor([0, 1, -1, 0, 1]), bank=True)
    assert sum(len(b) for b in metric.bank_feats) == 3
    with pytest.raises(ValueError):
        KNNAccuracy(num_classes=1)
