"""The accuracy gate's records, boundaries and message, written out by hand (no model needed).

Each rule is a record {rule, value, limit, passed, detail}; a value exactly at its limit passes
(>= for agreement and cosine floors, <= for drops and max-abs ceilings); outputs the rules do not
read are left out; a NaN value (nothing to compare) passes; the error names every broken rule with
its value and limit and says what to do, and that nothing was written.
"""
from __future__ import annotations

import math

import pytest

from edgefashion.errors import BadInput
from edgefashion.precision.gate import (DEFAULT_OUTPUT_BOUNDS, AccuracyGateError, GateRules,
                                        check_max_drop, enforce, gate)


def report(agreement=1.0, ref3=0.9, cand3=0.9, outputs=None, n=100, labels="known (100 images)",
           ref1=0.8, cand1=0.8):
    return {"num_images": n,
            "category": {"top1_agreement": agreement, "labels": labels,
                         "reference": {"top1": ref1, "top3": ref3},
                         "candidate": {"top1": cand1, "top3": cand3}},
            "outputs": outputs if outputs is not None else {}}


def stats(mean, low, max_abs=0.0):
    return {"cosine_mean": mean, "cosine_min": low, "max_abs": max_abs}


def test_every_rule_is_a_full_record():
    outs = {"category_logits": stats(0.995, 0.95), "gate1": stats(0.99, 0.9, 0.1)}
    sec = gate(report(outputs=outs))
    assert [c["rule"] for c in sec["rules"]] == [
        "category top-1 agreement", "category top-3 drop", "category top-1 drop",
        "category_logits cosine mean", "category_logits cosine min", "gate1 cosine mean",
        "gate1 cosine min", "gate1 max-abs"]
    first = sec["rules"][0]
    assert first == {"rule": "category top-1 agreement", "value": 1.0, "limit": 0.995, "passed": True,
                     "detail": "fraction of images with the reference's top-1"}
    assert sec["rules"][1]["detail"] == "points, labelled images"
    assert sec["rules"][2] == {"rule": "category top-1 drop", "value": 0.0, "limit": 0.3, "passed": True,
                               "detail": "points, labelled images"}
    assert [c["detail"] for c in sec["rules"][3:]] == ["logits", "logits", "gate", "gate", "gate"]
    assert sec["rules"][7] == {"rule": "gate1 max-abs", "value": 0.1, "limit": 0.5, "passed": True,
                               "detail": "gate"}
    assert sec["passed"] and sec["failed"] == [] and sec["enforced"] and not sec["too_small"]


def test_values_at_the_limits_pass_and_just_past_them_fail():
    lo_mean, lo_min, hi_abs = DEFAULT_OUTPUT_BOUNDS["gate"]
    at = gate(report(agreement=0.995, ref3=0.9, cand3=0.895, ref1=0.8, cand1=0.797,
                     outputs={"gate2": stats(lo_mean, lo_min, hi_abs)}), max_drop=0.5)
    assert at["passed"], at["failed"]
    past = gate(report(agreement=0.994, ref3=0.9, cand3=0.894, ref1=0.8, cand1=0.7969,
                       outputs={"gate2": stats(lo_mean - 1e-6, lo_min - 1e-6, hi_abs + 1e-6)}), max_drop=0.5)
    assert past["failed"] == ["category top-1 agreement", "category top-3 drop", "category top-1 drop",
                              "gate2 cosine mean", "gate2 cosine min", "gate2 max-abs"]


def test_the_top1_drop_rule_reads_labelled_images_only():
    """Without labels the reference's top-1 is the label, so the top-1 drop is 1 - agreement: the
    agreement rule already judges it, and the drop rule records no value."""
    labelled = gate(report(agreement=0.997, ref1=0.9, cand1=0.894))  # 0.6 points lost
    assert labelled["failed"] == ["category top-1 drop"]
    assert labelled["rules"][2]["value"] == pytest.approx(0.6)
    gained = gate(report(agreement=0.997, ref1=0.9, cand1=0.903))  # answers moved, accuracy rose
    assert gained["passed"]
    unlabelled = gate(report(agreement=0.996, ref1=1.0, cand1=0.996, labels="reference top-1 (no labels)"))
    assert unlabelled["passed"] and unlabelled["rules"][2] == {
        "rule": "category top-1 drop", "value": None, "limit": 0.3, "passed": True,
        "detail": "no labels: the agreement rule covers it"}
    off = GateRules(max_top1_drop=None)
    assert "category top-1 drop" not in [c["rule"] for c in gate(report(), rules=off)["rules"]]
    with pytest.raises(BadInput, match=r"max_top1_drop -1 must be .* \(or None for no rule\)"):
        GateRules(max_top1_drop=-1)
    # an agreement rule switched off (0) does not turn the drop rule on for unlabelled images; QAT's does
    loose = GateRules(min_agreement=0.0)
    unl = report(agreement=0.99, ref1=1.0, cand1=0.99, labels="reference top-1 (no labels)")
    assert gate(unl, rules=loose)["passed"]
    qat_like = GateRules(min_agreement=0.0, max_top1_drop=0.5, top1_drop_without_labels=True)
    assert gate(unl, rules=qat_like)["failed"] == ["category top-1 drop"]


def test_outputs_without_a_rule_are_not_checked_and_every_output_is_seen():
    outs = {"landmark_heatmaps": stats(0.1, 0.1, 9.0),      # no rule reads heatmaps
            "gate3": {"skipped": "not stored"},              # skipped by the evaluation
            "embedding": stats(0.5, 0.5)}                    # after both: still checked
    sec = gate(report(outputs=outs))
    assert [c["rule"] for c in sec["rules"][3:]] == ["embedding cosine mean", "embedding cosine min"]
    assert sec["failed"] == ["embedding cosine mean", "embedding cosine min"]
    only_logits = GateRules(bounds={"logits": DEFAULT_OUTPUT_BOUNDS["logits"]})
    assert len(gate(report(outputs=outs), rules=only_logits)["rules"]) == 3  # kind without bounds
    assert len(gate({k: v for k, v in report().items() if k != "outputs"})["rules"]) == 3


def test_nan_values_pass_and_are_recorded_as_none():
    sec = gate(report(ref3=math.nan))
    drop = sec["rules"][1]
    assert drop == {"rule": "category top-3 drop", "value": None, "limit": 0.5, "passed": True,
                    "detail": "points, labelled images"}
    assert sec["drop_points"] == 0.0 and sec["passed"]


def test_rules_given_are_used_and_max_drop_overrides_theirs():
    strict = GateRules(max_drop=0.1, min_agreement=1.0)
    sec = gate(report(agreement=0.995, cand3=0.898), max_drop=None, rules=strict)
    assert sec["failed"] == ["category top-1 agreement", "category top-3 drop"] and sec["passed"]
    assert not sec["enforced"] and sec["max_drop"] is None
    with pytest.raises(AccuracyGateError, match=r"top-1 agreement 0\.995 \(needs >= 1\)"):
        enforce(report(agreement=0.995), "the int8 model", rules=strict)
    sec = enforce(report(cand3=0.898), "x", max_drop=0.5, rules=strict)  # 0.2 points <= 0.5
    assert sec["passed"] and sec["max_drop"] == 0.5


def test_the_error_names_every_broken_rule_and_what_to_do():
    bad = report(agreement=0.9, ref3=0.9, cand3=0.8, outputs={"category_logits": stats(0.5, 0.2)})
    with pytest.raises(AccuracyGateError) as e:
        enforce(bad, "the int8 model of m.onnx")
    msg = str(e.value)
    assert msg.startswith("the int8 model of m.onnx fails the accuracy gate on 100 images: "
                          "category top-1 agreement 0.9 (needs >= 0.995); category top-3 drop 10 "
                          "(needs <= 0.5); category_logits cosine mean 0.5 (needs >= 0.99); "
                          "category_logits cosine min 0.2 (needs >= 0.9); nothing was written. ")
    assert msg.endswith("Keep more layers in fp32 (--keep-fp32 gates first-conv heads), try another "
                        "--calib-method, calibrate on more (and more varied) images, or loosen the "
                        "rule (--max-drop, --min-agreement, --max-top1-drop)")
    assert e.value.report["gate"]["failed"] == ["category top-1 agreement", "category top-3 drop",
                                                "category_logits cosine mean",
                                                "category_logits cosine min"]


def test_limits_at_their_edges():
    assert check_max_drop(0) == 0.0 and check_max_drop(None) is None
    for frac in (0.0, 1.0):
        assert GateRules(min_agreement=frac).min_agreement == frac
    with pytest.raises(BadInput, match=r"min_agreement 1\.5 must be a fraction in \[0, 1\]"):
        GateRules(min_agreement=1.5)
    with pytest.raises(BadInput, match="max_drop -0.1 must be a number of points >= 0"):
        check_max_drop(-0.1)


def test_the_section_says_what_was_measured_and_flags_small_sets():
    sec = gate(report(n=50, labels="reference top-1 (no labels)", ref3=0.9, cand3=math.nan))
    assert {k: sec[k] for k in ("metric", "max_drop", "drop_points", "basis", "min_agreement",
                                "failed", "enforced", "passed", "too_small")} == {
        "metric": "category top-3 accuracy", "max_drop": 0.5, "drop_points": 0.0,
        "basis": "reference top-1 as label", "min_agreement": 0.995, "failed": [],
        "enforced": True, "passed": True, "too_small": False}
    assert "note" not in sec and sec["rules"][1]["value"] is None  # NaN on one side: no comparison
    small = gate(report(n=49))
    assert small["too_small"] and small["note"] == (
        "only 49 evaluation images (< 50): one disagreement moves the agreement by 2.0 points; "
        "give more with --eval")
    none = gate({k: v for k, v in report().items() if k != "num_images"})
    assert none["too_small"] and "only 0 evaluation images" in none["note"] and "100.0 points" in none["note"]


def test_kinds_by_suffix_and_rules_as_a_dict():
    from edgefashion.precision.gate import output_kind

    assert output_kind("Person_Gate") == "gate" and output_kind("spatial_attention") == "gate"
    assert output_kind("gated_head") == "gate" and output_kind("heatmap") is None
    rules = GateRules(max_drop=1.0, min_agreement=0.95, bounds={"logits": (0.9, 0.8, None)})
    assert rules.to_dict() == {"max_drop": 1.0, "min_agreement": 0.95, "bounds": {"logits": [0.9, 0.8, None]},
                               "max_top1_drop": 0.3, "top1_drop_without_labels": False}
    with pytest.raises(BadInput) as e:
        GateRules(bounds={"heatmap": (1, 1, 1)})
    assert str(e.value) == ("gate bound 'heatmap': (1, 1, 1); kinds are logits, gate, landmarks, embedding, "
                            "each (cosine mean floor, cosine min floor, max-abs ceiling or None)")
