"""The documented rule "a label is predicted when its score >= its threshold", at the boundary.

A score exactly equal to the threshold is selected; the next float32 below it is not. Checked on
``select_attributes``, through ``postprocess`` (a logit of 0 is a score of exactly 0.5), through the
stream smoother's hysteresis (``enter`` and ``leave`` bounds); numpy only (the Predictor's
``threshold=`` at the boundary: test_promises_predictor.py).
"""
from __future__ import annotations

import numpy as np
from runtime_helpers import make_schema

from edgefashion.labels import LabelSchema
from edgefashion.runtime.postprocess import postprocess, select_attributes
from edgefashion.stream.smoothing import ScoreSmoother, SmoothingConfig

F32 = np.float32


def below(x) -> np.float32:
    """The largest float32 strictly below ``x``."""
    return np.nextafter(F32(x), F32(0))


def test_score_equal_to_threshold_is_selected():
    thr = np.array([0.5, 0.6, 0.4, 0.25], F32)
    labels = select_attributes(thr[None].copy(), thr)
    assert labels.tolist() == [[True, True, True, True]]
    under = np.array([[below(t) for t in thr]], F32)
    assert select_attributes(under, thr).tolist() == [[False, False, False, False]]


def test_boundary_survives_exclusivity_and_applicability():
    schema = make_schema()  # sleeve: short 0.5, long 0.6 (exclusive); lower bodies only texture
    thr = schema.thresholds()
    scores = np.zeros((2, schema.num_attributes), F32)
    scores[:, 4] = thr[4]        # long-sleeve exactly at its 0.6
    scores[:, 3] = below(thr[3])  # short-sleeve just under its 0.5
    top1 = np.array([9, 4])      # t-shirt (sleeves apply), pants (they do not)
    from edgefashion.runtime.postprocess import exclusive_indices

    labels = select_attributes(scores, thr, top1, schema.applicability_mask(), exclusive_indices(schema))
    assert labels[0].nonzero()[0].tolist() == [4]
    assert not labels[1].any()


def test_postprocess_logit_zero_meets_threshold_one_half():
    schema = LabelSchema.simple(["a", "b"], {"texture": ["x", "y", "z"]})  # default threshold 0.5
    assert schema.thresholds().tolist() == [0.5, 0.5, 0.5]
    out = {"category_logits": np.array([[1.0, 0.0]], F32),
           # sigmoid(0) == 0.5 exactly; a tiny negative logit is just below
           "attribute_logits": np.array([[0.0, -1e-6, 3.0]], F32)}
    post = postprocess(out, schema)
    assert post.attribute_scores[0, 0] == F32(0.5)
    assert post.attribute_labels.tolist() == [[True, False, True]]
    # a global threshold given by the caller follows the same rule
    post = postprocess({**out, "attribute_logits": np.array([[1.0, 2.0, 0.0]], F32)}, schema,
                       threshold=float(1 / (1 + np.exp(-1.0))))
    assert post.attribute_labels[0].tolist() == [True, True, False]


# ---------------------------------------------------------------------- stream hysteresis
def smoother(**cfg) -> ScoreSmoother:
    schema = LabelSchema.simple(["a", "b"], {"texture": ["x"]})
    return ScoreSmoother(schema, SmoothingConfig(window=1, **cfg))


def test_hysteresis_turns_on_at_enter_and_stays_on_at_leave():
    s = smoother(enter=0.6, leave=0.4)
    probs = np.array([0.9, 0.1], F32)
    assert not s.update(probs, np.array([below(0.6)], F32))[2][0]
    assert s.update(probs, np.array([0.6], F32))[2][0]            # == enter: on
    assert s.update(probs, np.array([0.4], F32))[2][0]            # == leave: stays on
    assert not s.update(probs, np.array([below(0.4)], F32))[2][0]  # below leave: off
    assert not s.update(probs, np.array([0.5], F32))[2][0]        # between: stays off


def test_hysteresis_defaults_to_the_threshold_and_a_gap():
    s = smoother()  # enter = schema threshold 0.5, leave = 0.5 - gap 0.1
    np.testing.assert_allclose(s.enter, [0.5])
    np.testing.assert_allclose(s.leave, [0.4])
    probs = np.array([0.9, 0.1], F32)
    assert s.update(probs, np.array([0.5], F32))[2][0]
    assert s.update(probs, np.array([0.45], F32))[2][0]
    assert not s.update(probs, np.array([0.35], F32))[2][0]


def test_category_changes_only_past_the_margin():
    s = smoother(category_margin=0.25)
    assert s.update(np.array([0.6, 0.4], F32), np.zeros(1, F32))[3] == 0
    assert s.update(np.array([0.4, 0.6], F32), np.zeros(1, F32))[3] == 0     # beats by 0.2 < 0.25
    assert s.update(np.array([0.375, 0.625], F32), np.zeros(1, F32))[3] == 1  # by exactly 0.25


def test_thresholds_resolve_to_float32_per_attribute():
    from edgefashion.runtime.postprocess import resolve_thresholds

    schema = make_schema()
    for given, want in ((None, schema.thresholds()), (0.3, [0.3] * 7),
                        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]),
                        ({"striped": 0.9}, [0.9, 0.5, 0.5, 0.5, 0.6, 0.5, 0.4])):
        got = resolve_thresholds(schema, given)
        assert got.dtype == np.float32 and got.shape == (7,)
        np.testing.assert_array_equal(got, np.asarray(want, F32))


def test_scores_are_the_float64_sigmoid_rounded_once():
    """float32 logits go through the logistic in float64: each score is the correctly rounded value,
    so a score that should equal its threshold does, bit for bit."""
    from edgefashion.runtime.postprocess import sigmoid

    x = np.random.default_rng(0).normal(0, 6, 20000).astype(F32)
    want = (1 / (1 + np.exp(-x.astype(np.float64)))).astype(F32)
    got = sigmoid(x)
    assert got.dtype == F32
    np.testing.assert_array_equal(got, want)
