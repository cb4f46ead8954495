"""Per-group metrics, hand-computed: exclusive top-1 / macro-F1 / majority share, multi-label AP,
tuned thresholds, best.pt's selection score, and the evaluation report that carries them."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgefashion.labels import LabelSchema
from edgefashion.training.group_metrics import (average_precision, exclusive_group_metrics,
                                                group_report, macro_f1, selection_score,
                                                tune_thresholds)
from edgefashion.training.metrics import evaluation_report


def test_exclusive_group_top1_macro_f1_and_majority_share_by_hand():
    logits = np.array([[3, 1, 0], [0, 2, 1], [2, 0, 1], [0, 0, 5], [1, 2, 0]], np.float32)
    labels = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [-1, -1, 1], [0, 0, 0]])
    m = exclusive_group_metrics(logits, labels)  # row 5 unknown: not scored
    assert m["num_images"] == 4
    assert m["top1"] == 0.75                       # preds 0, 1, 0, 2 vs truth 0, 1, 2, 2
    assert m["majority_share"] == 0.5              # value 2 is 2 of 4
    # F1: class 0: tp 1, pred 2, true 1 -> 2/3; class 1: 1; class 2: tp 1, pred 1, true 2 -> 2/3
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert exclusive_group_metrics(logits, np.zeros_like(labels)) is None
    assert macro_f1(np.array([0, 0]), np.array([0, 0]), 3) == 1.0


def test_average_precision_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    pos = np.array([True, False, True, False, True])
    # precision at the positives' ranks: 1/1, 2/3, 3/5
    assert average_precision(scores, pos) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert math.isnan(average_precision(scores, np.zeros(5, bool)))


def test_tuned_threshold_is_f1_optimal_and_keeps_attributes_without_positives():
    scores = np.array([[0.9, 0.2], [0.6, 0.1], [0.4, 0.3], [0.35, 0.2]], np.float32)
    labels = np.array([[1, -1], [1, -1], [-1, -1], [1, 0]])
    thr = tune_thresholds(scores, labels, np.array([0.5, 0.5], np.float32))
    # attribute 0: positives 0.9, 0.6, 0.35, negative 0.4; cutting at 0.3 (all) gives F1 6/7,
    # cutting between 0.4 and 0.6 gives 4/5: the best keeps every photo
    assert thr[0] == pytest.approx((0.35 + 0.175) / 2)  # below the lowest: midway to half of it
    assert thr[1] == 0.5


def test_group_report_and_selection_score_on_a_mixed_schema():
    schema = LabelSchema.simple(["a", "b"], {"fit": ["x", "y"], "texture": ["s", "d"]},
                                exclusive_groups=["fit"]).replace(softmax_groups=("fit",))
    logits = np.array([[2, 0, 3, -3], [0, 2, -3, 3], [1, 0, 3, 3]], np.float32)
    labels = np.array([[1, -1, 1, -1], [-1, 1, -1, 1], [-1, 1, 1, 0]])
    rep = group_report(logits, labels, schema)
    assert rep["groups"]["fit"]["top1"] == pytest.approx(2 / 3)
    assert rep["groups"]["texture"]["kind"] == "multi-label"
    assert rep["groups"]["texture"]["ap"] == {"s": 1.0, "d": 1.0}
    assert rep["attribute_map"] == 1.0
    full = evaluation_report(np.array([[1, 0], [0, 1], [1, 0]], np.float32), np.array([0, 1, 1]),
                             logits, labels, schema.group_indices(), schema)
    assert full["group_top1_mean"] == pytest.approx(2 / 3)
    assert full["category_top1"] == pytest.approx(2 / 3)
    assert selection_score(full, 2) == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 3)
    assert selection_score(full, 1) == pytest.approx((2 / 3 + 1.0) / 2)  # no categories to count
