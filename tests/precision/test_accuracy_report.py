"""The accuracy report and the gate on known numbers (no model needed)."""
from __future__ import annotations

import numpy as np
import pytest

from edgefashion.errors import BadInput, ExportError
from edgefashion.precision.accuracy import (
    accuracy_report,
    cosine_rows,
    format_report,
    topk_accuracy,
    topk_indices,
    topk_recall,
)
from edgefashion.precision.gate import AccuracyGateError, GateRules, enforce, gate


def _outputs(logits, attrs=None):
    out = {"category_logits": np.asarray(logits, np.float32)}
    if attrs is not None:
        out["attribute_logits"] = np.asarray(attrs, np.float32)
    return out


def test_topk_helpers():
    logits = np.array([[0.1, 0.9, 0.5, 0.0], [3.0, 2.0, 1.0, 0.0]])
    assert topk_indices(logits, 2).tolist() == [[1, 2], [0, 1]]
    assert topk_indices(logits, 9).shape == (2, 4)  # k > C: all, best first
    labels = np.array([2, -1])  # the unlabelled row is skipped
    assert topk_accuracy(logits, labels, 1) == 0.0 and topk_accuracy(logits, labels, 2) == 1.0
    pos = np.array([[1, -1, 1, 0], [0, 0, 0, 1]])
    assert topk_recall(logits, pos, 2) == pytest.approx(1 / 3)  # rows: 1 of 2, 0 of 1
    cos = cosine_rows(np.array([[1.0, 0], [0, 0]]), np.array([[2.0, 0], [0, 0]]))
    assert cos.tolist() == [1.0, 1.0]


def test_identical_outputs_agree_fully():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20, 10))
    rep = accuracy_report(_outputs(logits), _outputs(logits), labels=rng.integers(0, 10, 20))
    c = rep["category"]
    assert c["top1_agreement"] == 1.0 and c["top5_overlap"] == 1.0
    assert all(v == 0.0 for v in c["delta_points"].values())
    assert rep["outputs"]["category_logits"]["max_abs"] == 0.0
    assert rep["outputs"]["category_logits"]["cosine_min"] == pytest.approx(1.0)
    assert c["labels"].startswith("known")


def test_known_labels_delta_and_attribute_recall():
    ref = np.eye(4)[[0, 1, 2, 3]] * 5.0                   # right on every image
    cand = ref.copy()
    cand[0] = [0, 5, 4, 3]                                # image 0: label 0 now ranked last
    attrs_ref = np.array([[3.0, 2, 1, -1]] * 4)
    attrs_out = np.array([[-1.0, 2, 1, 3]] * 4)
    pos = np.array([[1, 0, 0, 0]] * 4)
    rep = accuracy_report(_outputs(ref, attrs_ref), _outputs(cand, attrs_out), labels=np.arange(4),
                          attribute_labels=pos)
    c = rep["category"]
    assert c["top1_agreement"] == 0.75
    assert c["delta_points"]["top1"] == pytest.approx(-25.0)
    assert c["delta_points"]["top3"] == pytest.approx(-25.0)
    a = rep["attributes"]
    assert a["recall_reference"]["top3"] == 1.0 and a["recall_candidate"]["top3"] == 0.0
    assert a["recall_delta_points"]["top3"] == pytest.approx(-100.0)
    text = format_report(rep)
    assert "top3 accuracy" in text and "-25.00pt" in text and "recall delta" in text


def test_no_labels_use_the_reference_top1():
    ref = np.array([[5.0, 4, 3, 2, 1]] * 3)
    cand = np.array([[1.0, 2, 3, 4, 5]] * 3)             # the reference's top-1 falls out of top 3
    rep = accuracy_report(_outputs(ref), _outputs(cand))
    c = rep["category"]
    assert c["labels"].startswith("pseudo") and c["reference"]["top3"] == 1.0
    assert c["candidate"]["top3"] == 0.0
    section = gate(rep, 0.5)
    assert not section["passed"] and section["drop_points"] == pytest.approx(100.0)
    assert "reference top-1" in section["basis"]


def test_gate_passes_within_budget_and_fails_typed():
    labels = np.arange(200) % 10
    ref = np.eye(10)[labels] * 4.0 + 20.0                 # logits with an offset: cosine stays high
    cand = ref.copy()
    cand[0, labels[0]] = 20.0                             # 1 of 200 images lost from the top 3:
    cand[0, 1:4] = 21.0                                   # 0.5 points, agreement 99.5 %
    rep = accuracy_report(_outputs(ref), _outputs(cand), labels=labels)
    top3 = GateRules(max_top1_drop=None)  # the top-3 budget alone (that image also costs 0.5 top-1 points)
    assert enforce(rep, "the int8 model", 0.5, top3)["passed"]  # exactly at the budget passes
    with pytest.raises(AccuracyGateError, match=r"category top-1 drop 0\.5 \(needs <= 0\.3\)"):
        enforce(rep, "the int8 model", 0.5)  # the default rules: the top-1 drop too
    with pytest.raises(AccuracyGateError, match=r"category top-3 drop 0\.5 \(needs <= 0\.4\)") as e:
        enforce(rep, "the int8 model", 0.4, top3)
    assert isinstance(e.value, ExportError) and e.value.report["gate"]["passed"] is False
    assert enforce(rep, "x", None)["passed"]              # None: report only
    with pytest.raises(BadInput, match="max_drop -1"):
        gate(rep, -1)
