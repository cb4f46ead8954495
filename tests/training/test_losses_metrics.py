from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefashion.losses.multitask import (MultiTaskLoss, attribute_weights, category_loss,
                                         weighted_bce)
from edgefashion.training.metrics import attribute_topk_recall, evaluation_report, topk_accuracy


def test_attribute_weights_from_ratios():
    labels = np.array([[1, -1], [-1, -1], [-1, 0], [-1, 1]], np.int8)
    w_pos, w_neg = attribute_weights(labels, unknown=(0,))
    # attribute 0: p = 1/4 -> w_pos 2, w_neg 2/3; attribute 1: p = 1/3 (one unknown)
    np.testing.assert_allclose(w_pos, [2.0, 1.5], rtol=1e-6)
    np.testing.assert_allclose(w_neg, [2 / 3, 0.75], rtol=1e-6)


def test_unknown_labels_contribute_nothing():
    torch.manual_seed(0)
    labels = torch.tensor([[1, 0, -1], [0, -1, 1]])
    w = torch.ones(3)
    a = torch.randn(2, 3)
    b = a.clone()
    b[labels == 0] += 100.0  # wild logits where the label is unknown
    assert weighted_bce(a, labels, w, w) == pytest.approx(float(weighted_bce(b, labels, w, w)))
    # treating -1 as unknown too leaves only the positives
    only_pos = weighted_bce(a, labels, w, w, unknown=(0, -1))
    expected = torch.nn.functional.softplus(-a[labels == 1]).mean()
    assert float(only_pos) == pytest.approx(float(expected), rel=1e-6)


def test_weights_apply_to_positives_and_negatives():
    logits = torch.zeros(1, 2)
    labels = torch.tensor([[1, -1]])
    loss = weighted_bce(logits, labels, torch.tensor([3.0, 3.0]), torch.tensor([1.0, 1.0]))
    assert float(loss) == pytest.approx((3 + 1) * np.log(2) / 2, rel=1e-6)


def test_category_loss_ignores_unknown_and_total_is_weighted():
    logits = torch.tensor([[2.0, 0.0], [0.0, 5.0]])
    assert float(category_loss(logits, torch.tensor([0, -1]))) == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0]))))
    assert float(category_loss(logits, torch.tensor([-1, -1]))) == 0.0
    fn = MultiTaskLoss(np.ones(1, np.float32), np.ones(1, np.float32), w_c=2.0, w_a=0.5)
    out = fn({"category_logits": logits, "attribute_logits": torch.zeros(2, 1)},
             {"category": torch.tensor([0, 1]), "attributes": torch.tensor([[1], [-1]])})
    assert float(out["loss"]) == pytest.approx(2 * float(out["category"]) + 0.5 * float(out["attributes"]))


def test_topk_accuracy():
    logits = np.array([[0.1, 0.5, 0.4], [0.9, 0.04, 0.06], [0.2, 0.3, 0.5]])
    labels = np.array([2, 1, -1])
    assert topk_accuracy(logits, labels, 1) == 0.0
    assert topk_accuracy(logits, labels, 2) == 0.5
    assert topk_accuracy(logits, labels, 3) == 1.0


def test_attribute_topk_recall_per_type():
    scores = np.array([[0.9, 0.8, 0.1, 0.7], [0.1, 0.2, 0.9, 0.8]])
    labels = np.array([[1, -1, 1, -1], [1, -1, 1, 0]])
    rec = attribute_topk_recall(scores, labels, 2, {"a": [0, 1], "b": [2, 3]})
    # attr0 positive twice, in top-2 once -> 0.5; attr2 positive twice, in top-2 once -> 0.5
    assert rec["overall"] == pytest.approx(0.5)
    assert rec["a"] == pytest.approx(0.5) and rec["b"] == pytest.approx(0.5)
    rep = evaluation_report(scores[:, :3], np.array([0, 2]), scores, labels, {"a": [0, 1]})
    assert rep["category_top1"] == 1.0 and "attribute_top5_recall" in rep
