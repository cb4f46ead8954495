"""Each gate rule on known numbers: which rule fails is named; small sets are flagged; bad limits are
typed errors. The flat-calibration case (issue: an int8 model that disagreed on 1 image in 10 passed
the old top-3-only gate) is refused by `edgefashion quantize` with a report, writing nothing."""
from __future__ import annotations

import numpy as np
import pytest

from edgefashion.errors import BadInput
from edgefashion.precision.accuracy import accuracy_report, format_report
from edgefashion.precision.gate import (
    MIN_DECISIVE_IMAGES,
    AccuracyGateError,
    GateRules,
    enforce,
    gate,
    output_kind,
)


def _logits(n: int, c: int = 10, offset: float = 20.0) -> np.ndarray:
    labels = np.arange(n) % c
    return np.eye(c)[labels] * 4.0 + offset, labels


def test_top1_disagreement_fails_even_when_top3_is_kept():
    ref, labels = _logits(100)
    cand = ref.copy()
    for i in range(3):                  # 3 % of images swap top-1 and top-2: top-3 accuracy unchanged
        cand[i, (labels[i] + 1) % 10] = 24.5
    rep = accuracy_report({"category_logits": ref}, {"category_logits": cand}, labels=labels)
    section = gate(rep)
    assert rep["category"]["top1_agreement"] == pytest.approx(0.97)
    assert section["drop_points"] == 0.0
    # the fp32 answers were right, so the 3 changes also cost 3 points of top-1 accuracy
    assert section["failed"] == ["category top-1 agreement", "category top-1 drop"] and not section["passed"]
    with pytest.raises(AccuracyGateError, match=r"category top-1 agreement 0\.97 \(needs >= 0\.995\); "
                                                 r"category top-1 drop 3 \(needs <= 0\.3\)"):
        enforce(rep, "the int8 model")
    assert gate(rep, rules=GateRules(min_agreement=0.95, max_top1_drop=3.0))["passed"]  # the user's own


def test_one_in_two_hundred_is_at_the_limit():
    ref, _ = _logits(200)
    cand = ref.copy()
    cand[0, 1] = 24.5
    rep = accuracy_report({"category_logits": ref}, {"category_logits": cand})  # no labels
    assert gate(rep)["passed"]
    cand[1, 2] = 24.5
    rep = accuracy_report({"category_logits": ref}, {"category_logits": cand})
    assert gate(rep)["failed"] == ["category top-1 agreement"]


def test_one_wrong_change_in_341_labelled_images_is_within_the_top1_drop():
    """clothing-small's validation set: one answer moved away from its label costs 0.29 points."""
    ref, labels = _logits(341)
    cand = ref.copy()
    cand[0, (labels[0] + 1) % 10] = 24.5
    rep = accuracy_report({"category_logits": ref}, {"category_logits": cand}, labels=labels)
    assert gate(rep)["passed"]
    cand[1, (labels[1] + 1) % 10] = 24.5  # two: 0.59 points and 99.41 % agreement
    rep = accuracy_report({"category_logits": ref}, {"category_logits": cand}, labels=labels)
    assert gate(rep)["failed"] == ["category top-1 agreement", "category top-1 drop"]


def test_gate_and_embedding_bounds_are_checked_per_output():
    ref, labels = _logits(60)
    rng = np.random.default_rng(0)
    gates = rng.uniform(0, 1, size=(60, 1, 4, 4))
    emb = rng.normal(size=(60, 16))
    moved_gate = gates.copy()
    moved_gate[5, 0, 0, 0] += 0.9                         # one pixel of one map off by 0.9
    bad_emb = emb.copy()
    bad_emb[:30] = rng.normal(size=(30, 16))              # half the embeddings unrelated
    ref_out = {"category_logits": ref, "gate1": gates, "embedding": emb}
    cand = {"category_logits": ref, "gate1": moved_gate, "embedding": bad_emb}
    section = gate(accuracy_report(ref_out, cand, labels=labels))
    assert "gate1 max-abs" in section["failed"]
    assert "embedding cosine mean" in section["failed"] and "embedding cosine min" in section["failed"]
    assert "category top-1 agreement" not in section["failed"]


def test_small_sets_are_flagged_and_report_only_records_everything():
    ref, labels = _logits(MIN_DECISIVE_IMAGES - 1)
    cand = ref.copy()
    cand[0, (labels[0] + 1) % 10] = 24.5
    rep = accuracy_report({"category_logits": ref}, {"category_logits": cand}, labels=labels)
    section = gate(rep, None)                             # --no-gate: recorded, never fails
    assert section["passed"] and not section["enforced"]
    assert section["failed"] == ["category top-1 agreement", "category top-1 drop"]
    assert section["too_small"] and f"only {MIN_DECISIVE_IMAGES - 1} evaluation images" in section["note"]
    text = format_report(rep)
    assert "not enforced" in text and "warning: only" in text and "BROKEN" in text


def test_output_kinds():
    assert output_kind("category_logits") == output_kind("attribute_logits") == "logits"
    assert output_kind("gate3") == output_kind("attention") == "gate"
    assert output_kind("landmarks") == "landmarks" and output_kind("landmark_heatmaps") is None
    assert output_kind("embedding") == "embedding" and output_kind("features") is None
    assert output_kind("cam") is None   # explains the top-1 class: judged by the top-1 rule


@pytest.mark.parametrize("kwargs, match", [({"min_agreement": 1.5}, "min_agreement 1.5"),
                                           ({"max_drop": -1}, "max_drop -1"),
                                           ({"bounds": {"heatmap": (0.9, 0.9, None)}}, "'heatmap'")])
def test_bad_limits_are_typed_errors(kwargs, match):
    with pytest.raises(BadInput, match=match):
        GateRules(**kwargs)


@pytest.mark.needs_data
@pytest.mark.slow
def test_quantize_cli_refuses_flat_calibration_and_writes_nothing(onnx_path, eval_photos, tmp_path,
                                                                  capsys):
    import cv2

    from edgefashion.cli.main import main

    flat = tmp_path / "flat"           # the mean colour: preprocesses to ~0, every range comes out ~0
    flat.mkdir()
    for i in range(2):
        cv2.imwrite(str(flat / f"{i}.png"), np.full((80, 80, 3), (104, 116, 124), np.uint8))
    out = tmp_path / "out" / "model.int8.onnx"
    evals = str(eval_photos[0].parents[1])
    rc = main(["quantize", str(onnx_path), "--precision", "int8", "--calib", str(flat), "--eval",
               evals, "--eval-size", "60", "-o", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc != 0
    assert "gate: FAIL: category top-1 agreement" in err and "not written" in err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


@pytest.mark.needs_data
@pytest.mark.slow
def test_compare_applies_the_same_rules(onnx_path, eval_photos, tmp_path, capsys):
    """A flat-calibrated int8 file written with the gate off: `compare` names the broken rule, exits 1."""
    import cv2

    from edgefashion.cli.main import main
    from edgefashion.precision import compare_models, quantize_onnx

    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(2):
        cv2.imwrite(str(flat / f"{i}.png"), np.full((80, 80, 3), (104, 116, 124), np.uint8))
    bad = quantize_onnx(onnx_path, tmp_path / "bad.int8.onnx", "int8", calib=flat,
                        eval_images=eval_photos, max_drop=None, progress=False, calib_cache=None)
    assert not bad["accuracy"]["gate"]["enforced"] and bad["accuracy"]["gate"]["failed"]
    report = compare_models([onnx_path, bad["output"]], eval_photos, threads=1, progress=False)
    assert not report["passed"]
    assert "category top-1 agreement" in report["models"][1]["report"]["gate"]["failed"]
    rc = main(["compare", str(onnx_path), bad["output"], "--images", str(eval_photos[0].parent),
               "--quiet", "--threads", "1"])
    out = capsys.readouterr()
    assert rc == 1 and "FAIL: category top-1 agreement" in out.out and "accuracy gate" in out.err
    rc = main(["compare", str(onnx_path), bad["output"], "--images", str(eval_photos[0].parent),
               "--quiet", "--threads", "1", "--no-gate"])
    assert rc == 0 and "(not enforced) category top-1 agreement" in capsys.readouterr().out


def test_qat_rule_judges_the_top1_accuracy_lost_not_the_agreement():
    """QAT's gate (min agreement 0, top-1 drop <= max_drop): 3 images change their answer, 2 of them
    to the right one and 1 away from it: agreement 97 %, top-1 accuracy +1 point: passes; 3 wrong
    changes: -3 points: fails on the top-1 drop, named."""
    ref, labels = _logits(100)
    wrong = ref.copy()
    for i in range(3):
        wrong[i, (labels[i] + 1) % 10] = 24.5
    fixed = ref.copy()
    ref_qat = ref.copy()
    for i in range(2):                  # the fp32 model was wrong on 0, 1; QAT gets them right
        ref_qat[i, (labels[i] + 1) % 10] = 24.5
    fixed[2, (labels[2] + 1) % 10] = 24.5
    qat = GateRules(max_drop=0.5, min_agreement=0.0, max_top1_drop=0.5)
    better = accuracy_report({"category_logits": ref_qat}, {"category_logits": fixed}, labels=labels)
    section = gate(better, rules=qat)
    assert better["category"]["top1_agreement"] == pytest.approx(0.97) and section["passed"]
    assert [c["value"] for c in section["rules"] if c["rule"] == "category top-1 drop"] == [pytest.approx(-1.0)]
    worse = accuracy_report({"category_logits": ref}, {"category_logits": wrong}, labels=labels)
    assert gate(worse, rules=qat)["failed"] == ["category top-1 drop"]
    assert gate(worse)["failed"] == ["category top-1 agreement", "category top-1 drop"]  # PTQ: both
    with pytest.raises(BadInput):
        GateRules(max_top1_drop=-1.0)
