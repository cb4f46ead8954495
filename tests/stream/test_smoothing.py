"""Temporal smoothing and per-label hysteresis (ScoreSmoother), on the runtime tests' real schema."""
from __future__ import annotations

import numpy as np
import pytest
from stream_helpers import make_schema

from edgefashion.errors import BadInput
from edgefashion.stream.smoothing import ScoreSmoother, SmoothingConfig

SCHEMA = make_schema()  # texture (free), sleeve + neck (exclusive); lower-body: texture only
A = {n: i for i, n in enumerate(SCHEMA.attribute_names)}
C = {n: i for i, n in enumerate(SCHEMA.category_names)}


def frame(cat: str = "shirt", p: float = 0.6, **scores: float) -> tuple[np.ndarray, np.ndarray]:
    probs = np.full(SCHEMA.num_categories, (1 - p) / (SCHEMA.num_categories - 1), np.float32)
    probs[C[cat]] = p
    s = np.full(SCHEMA.num_attributes, 0.1, np.float32)
    for k, v in scores.items():
        s[A[k.replace("_", "-")]] = v
    return probs, s


def on(smoother: ScoreSmoother, labels: np.ndarray) -> set[str]:
    return {SCHEMA.attribute_names[i] for i in np.nonzero(labels)[0]}


def test_hysteresis_enters_above_enter_and_leaves_below_leave():
    sm = ScoreSmoother(SCHEMA, SmoothingConfig(window=1, enter=0.5, leave=0.3))
    seen = []
    for v in (0.45, 0.55, 0.4, 0.31, 0.29, 0.45, 0.5):
        seen.append("striped" in on(sm, sm.update(*frame(striped=v))[2]))
    assert seen == [False, True, True, True, False, False, True]


def test_default_bounds_come_from_the_schema_thresholds():
    sm = ScoreSmoother(SCHEMA, SmoothingConfig(window=1, gap=0.1))
    np.testing.assert_allclose(sm.enter, SCHEMA.thresholds())
    np.testing.assert_allclose(sm.leave, SCHEMA.thresholds() - 0.1, atol=1e-6)
    assert "long-sleeve" not in on(sm, sm.update(*frame(long_sleeve=0.55))[2])  # its threshold is 0.6
    assert "long-sleeve" in on(sm, sm.update(*frame(long_sleeve=0.61))[2])
    assert "long-sleeve" in on(sm, sm.update(*frame(long_sleeve=0.52))[2])  # above 0.5 = leave


def test_window_mean_removes_single_frame_flicker():
    sm = ScoreSmoother(SCHEMA, SmoothingConfig(window=4, enter=0.5, leave=0.4))
    states = []
    for v in (0.7, 0.7, 0.7, 0.7, 0.1, 0.7, 0.7, 0.1, 0.7):  # one bad frame now and then
        _, scores, labels, _ = sm.update(*frame(striped=v))
        states.append("striped" in on(sm, labels))
    assert all(states)
    np.testing.assert_allclose(scores[A["striped"]], np.mean([0.7, 0.7, 0.1, 0.7]), atol=1e-6)


def test_ema_weights_the_newest_frame_by_alpha():
    sm = ScoreSmoother(SCHEMA, SmoothingConfig(method="ema", alpha=0.25))
    sm.update(*frame(striped=0.8))
    _, scores, _, _ = sm.update(*frame(striped=0.0))
    np.testing.assert_allclose(scores[A["striped"]], 0.6, atol=1e-6)


def test_category_switches_only_past_the_margin():
    sm = ScoreSmoother(SCHEMA, SmoothingConfig(window=1, category_margin=0.1))
    assert sm.update(*frame("shirt", 0.5))[3] == C["shirt"]
    probs, s = frame("shirt", 0.4)
    probs[C["dress"]] = 0.45  # better, but by less than the margin
    assert sm.update(probs, s)[3] == C["shirt"]
    probs[C["dress"]] = 0.55
    assert sm.update(probs, s)[3] == C["dress"]


def test_exclusive_groups_and_applicability_after_hysteresis():
    sm = ScoreSmoother(SCHEMA, SmoothingConfig(window=1, enter=0.5, leave=0.3))
    labels = sm.update(*frame("shirt", short_sleeve=0.8, long_sleeve=0.9, striped=0.9))[2]
    assert on(sm, labels) == {"long-sleeve", "striped"}  # one label per exclusive group
    labels = sm.update(*frame("shirt", short_sleeve=0.8, long_sleeve=0.35, striped=0.9))[2]
    assert on(sm, labels) == {"short-sleeve", "striped"}  # long-sleeve still on, but lower now
    labels = sm.update(*frame("pants", 0.9, short_sleeve=0.8, striped=0.9))[2]
    assert sm.category == C["pants"] and on(sm, labels) == {"striped"}  # sleeves do not apply


def test_reset_forgets_history():
    sm = ScoreSmoother(SCHEMA, SmoothingConfig(window=3, enter=0.5, leave=0.3))
    sm.update(*frame(striped=0.9))
    sm.reset()
    _, scores, labels, _ = sm.update(*frame(striped=0.2))
    assert scores[A["striped"]] == pytest.approx(0.2) and not on(sm, labels)


def test_config_validation_and_round_trip():
    cfg = SmoothingConfig(window=3, method="ema", alpha=0.3, enter=0.6, leave=0.4)
    assert SmoothingConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (dict(window=0), dict(method="median"), dict(alpha=1.5), dict(enter=0.4, leave=0.6),
                dict(enter=1.2)):
        with pytest.raises(BadInput):
            SmoothingConfig(**bad)
