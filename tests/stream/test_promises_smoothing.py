"""``make_smoother`` and ``smooth_prediction`` with hand-made predictions (numpy only, no model).

The stream test (test_promises_stream.py) shows the Stream yields the smoother applied to the raw
sequence; here the smoother's own outputs are written out by hand: the window mean of the
probabilities and scores, the kept category with its ranking, the labels by group, highest first.
"""
from __future__ import annotations

import numpy as np
import pytest

from edgefashion.errors import BadInput
from edgefashion.labels import Attribute, Category, LabelSchema
from edgefashion.runtime.prediction import CategoryResult, Prediction
from edgefashion.stream.smoothing import (ScoreSmoother, SmoothingConfig, make_smoother,
                                          smooth_prediction)

NAMES = ["tee", "dress", "pants"]
SCHEMA = LabelSchema(categories=tuple(Category(n) for n in NAMES),
                     attributes=(Attribute("striped", "texture"), Attribute("dotted", "texture"),
                                 Attribute("short", "sleeve"), Attribute("long", "sleeve")),
                     exclusive_groups=("sleeve",))


def raw(probs, scores, source: str = "cam#0") -> Prediction:
    probs = np.asarray(probs, np.float32)
    i = int(np.argmax(probs))
    ranked = [(NAMES[j], float(probs[j])) for j in np.argsort(-probs)]
    return Prediction(source, CategoryResult(NAMES[i], float(probs[i]), i, ranked, NAMES, probs),
                      scores=dict(zip(SCHEMA.attribute_names, map(float, scores))))


def test_make_smoother_accepts_every_documented_form():
    thr = SCHEMA.thresholds()
    assert make_smoother(None, SCHEMA, thr) is None and make_smoother(False, SCHEMA, thr) is None
    assert make_smoother(True, SCHEMA, thr).cfg == SmoothingConfig()
    assert make_smoother(3, SCHEMA, thr).cfg == SmoothingConfig(window=3)
    assert make_smoother({"window": 4, "method": "ema"}, SCHEMA, thr).cfg == SmoothingConfig(window=4, method="ema")
    cfg = SmoothingConfig(window=2, gap=0.2)
    s = make_smoother(cfg, SCHEMA, np.full(4, 0.7, np.float32))
    assert isinstance(s, ScoreSmoother) and s.cfg is cfg
    np.testing.assert_allclose(s.enter, 0.7) and np.testing.assert_allclose(s.leave, 0.5)
    with pytest.raises(BadInput, match="smoothing must be a SmoothingConfig, a dict, a window length or None; got str"):
        make_smoother("yes", SCHEMA, thr)


def test_smooth_prediction_is_the_window_mean_with_ranked_categories_and_grouped_labels():
    s = make_smoother(2, SCHEMA, SCHEMA.thresholds())  # enter 0.5, leave 0.4
    first = smooth_prediction(raw([0.7, 0.2, 0.1], [0.9, 0.6, 0.8, 0.3]), s, top_k=3)
    assert first.category.label == "tee" and first.category.index == 0
    assert first.attributes == {"texture": ["striped", "dotted"], "sleeve": ["short"]}
    second = smooth_prediction(raw([0.1, 0.2, 0.7], [0.1, 0.8, 0.1, 0.9], "cam#1"), s, top_k=2)
    # window mean: probs (0.4, 0.2, 0.4), scores (0.5, 0.7, 0.45, 0.6)
    np.testing.assert_allclose(second.category.probs, [0.4, 0.2, 0.4], atol=1e-6)
    np.testing.assert_allclose(list(second.scores.values()), [0.5, 0.7, 0.45, 0.6], atol=1e-6)
    assert list(second.scores) == SCHEMA.attribute_names and second.source == "cam#1"
    # pants ties tee (0.4 vs 0.4 < 0.4 + margin): the category stays tee, ranked first, then pants
    assert second.category.label == "tee" and second.category.score == pytest.approx(0.4)
    assert [n for n, _ in second.category.ranked] == ["tee", "pants"]
    # striped 0.5 >= leave stays on; dotted 0.7 on, first (higher); sleeve: short 0.45 still on
    # (>= leave 0.4), long 0.6 >= enter: exclusive -> only the higher, long
    assert second.attributes == {"texture": ["dotted", "striped"], "sleeve": ["long"]}


def test_top_k_keeps_the_kept_category_first_and_k_entries():
    s = make_smoother(SmoothingConfig(window=1, category_margin=0.5), SCHEMA, SCHEMA.thresholds())
    smooth_prediction(raw([0.5, 0.3, 0.2], [0, 0, 0, 0]), s, top_k=3)
    p = smooth_prediction(raw([0.3, 0.6, 0.1], [0, 0, 0, 0]), s, top_k=3)  # dress does not win by 0.5
    assert p.category.label == "tee" and [n for n, _ in p.category.ranked] == ["tee", "dress", "pants"]
    assert len(smooth_prediction(raw([0.3, 0.6, 0.1], [0, 0, 0, 0]), s, top_k=1).category.ranked) == 1


def test_a_failed_frame_passes_through():
    s = make_smoother(True, SCHEMA, SCHEMA.thresholds())
    bad = Prediction("cam#3", error=BadInput("corrupt"))
    assert smooth_prediction(bad, s, 5) is bad


def test_ema_by_hand_default_alpha_from_the_window():
    s = ScoreSmoother(SCHEMA, SmoothingConfig(window=3, method="ema"))  # alpha = 2 / (3 + 1) = 0.5
    s.update([0.8, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2])
    sp, ss, _, _ = s.update([0.2, 0.6, 0.2], [0.6, 0.0, 1.0, 0.4])
    np.testing.assert_allclose(sp, [0.5, 0.35, 0.15], atol=1e-6)
    np.testing.assert_allclose(ss, [0.4, 0.1, 0.6, 0.3], atol=1e-6)
    s = ScoreSmoother(SCHEMA, SmoothingConfig(method="ema", alpha=0.25))
    for p in ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]):
        sp, ss, _, _ = s.update(p, p + [0.0])
    # ((1 * 0.75) * 0.75, 0.25 * 0.75, 0.25)
    np.testing.assert_allclose(sp, [0.5625, 0.1875, 0.25], atol=1e-6)
    np.testing.assert_allclose(ss, [0.5625, 0.1875, 0.25, 0.0], atol=1e-6)
    assert sp.dtype == ss.dtype == np.float32


def test_bounds_and_state_types():
    s = ScoreSmoother(SCHEMA, SmoothingConfig(enter=0.6, leave=0.3), thresholds=[0.5, 0.5, 0.5, 0.5])
    assert s.enter.dtype == s.leave.dtype == np.float32
    np.testing.assert_allclose(s.enter, 0.6) and np.testing.assert_allclose(s.leave, 0.3)
    low = ScoreSmoother(SCHEMA, SmoothingConfig(gap=0.2), thresholds=np.array([0.1, 0.5, 0.9, 0.15]))
    np.testing.assert_allclose(low.leave, [0.0, 0.3, 0.7, 0.0], atol=1e-7)  # clipped at 0
    assert low.on.dtype == bool and low.on.shape == (4,) and not low.on.any()
    sp, ss, labels, cat = low.update(np.array([0.2, 0.5, 0.3], np.float64), np.array([0.2, 0.9, 0.1, 0.95]))
    assert sp.dtype == ss.dtype == np.float32 and labels.dtype == bool and cat == 1
    low.reset()
    assert low.on.dtype == bool and not low.on.any() and low.category is None


def test_ties_rank_in_schema_order_and_names_are_kept():
    s = make_smoother(1, SCHEMA, SCHEMA.thresholds())
    p = smooth_prediction(raw([0.2, 0.4, 0.4], [0, 0, 0, 0]), s, top_k=3)
    assert p.category.label == "dress" and [n for n, _ in p.category.ranked] == ["dress", "pants", "tee"]
    assert list(p.category.names) == NAMES and p.category.top(3)[0][0] == "dress"


@pytest.mark.parametrize("kwargs, message", [
    ({"window": 0}, "smoothing window=0 must be at least 1 frame"),
    ({"method": "median"}, "smoothing method 'median' must be one of mean, ema"),
    ({"alpha": 0.0}, "smoothing alpha=0.0 must lie in (0, 1]"),
    ({"enter": 0.0}, "hysteresis enter=0.0 must lie in (0, 1)"),
    ({"enter": 1.0}, "hysteresis enter=1.0 must lie in (0, 1)"),
    ({"leave": 0.0}, "hysteresis leave=0.0 must lie in (0, 1)"),
    ({"enter": 0.4, "leave": 0.5}, "hysteresis leave=0.5 must not exceed enter=0.4"),
    ({"gap": 1.0}, "gap=1.0 and category_margin=0.05 must lie in [0, 1)"),
    ({"category_margin": 1.0}, "gap=0.1 and category_margin=1.0 must lie in [0, 1)"),
    ({"gap": -0.1}, "gap=-0.1"),
])
def test_config_rejects_bad_values_naming_them(kwargs, message):
    with pytest.raises(BadInput) as e:
        SmoothingConfig(**kwargs)
    assert message in str(e.value)


def test_config_accepts_its_edges():
    SmoothingConfig(alpha=1.0, enter=0.5, leave=0.5, gap=0.0, category_margin=0.0, window=1)
    cfg = SmoothingConfig(window=3, method="ema", alpha=0.5)
    assert SmoothingConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(BadInput, match="unknown smoothing options 'extra'"):
        SmoothingConfig.from_dict({**cfg.to_dict(), "extra": 1})


def test_group_answers_follow_the_smoothed_scores():
    """An exclusive group's answer is read from the window mean, not the last frame; a softmax
    group answers its best value even below every threshold."""
    s = make_smoother(2, SCHEMA, SCHEMA.thresholds())
    smooth_prediction(raw([0.7, 0.2, 0.1], [0.9, 0.6, 0.8, 0.3]), s, top_k=3)
    second = smooth_prediction(raw([0.7, 0.2, 0.1], [0.1, 0.8, 0.1, 0.5], "cam#1"), s, top_k=3)
    # window mean of sleeve: short (0.8 + 0.1) / 2 = 0.45, long (0.3 + 0.5) / 2 = 0.4
    assert second.groups == {"sleeve": ("short", pytest.approx(0.45))}
    soft = SCHEMA.replace(softmax_groups=("sleeve",))
    s2 = make_smoother(1, soft, soft.thresholds())
    low = smooth_prediction(raw([0.7, 0.2, 0.1], [0.1, 0.1, 0.3, 0.2]), s2, top_k=3)
    assert low.attributes["sleeve"] == ["short"] and low.groups["sleeve"][0] == "short"
