"""What the Stream yields is the smoother applied to the raw per-frame sequence, frame by frame.

"Fewer label changes with smoothing" also holds with smoothing switched off; here the smoothed
scores are recomputed in the test from the raw ones (mean over the last ``window`` frames, or the
EMA, written out with numpy), and the labels and category by replaying the raw predictions through
a fresh ScoreSmoother. The premise is checked too: on this video smoothing changes the numbers.
"""
from __future__ import annotations

import numpy as np
import pytest

from edgefashion.runtime.predictor import Predictor
from edgefashion.stream.pipeline import Stream
from edgefashion.stream.smoothing import ScoreSmoother, SmoothingConfig, smooth_prediction

pytestmark = pytest.mark.needs_data
WINDOW = 4


@pytest.fixture(scope="module")
def predictor(stream_onnx):
    return Predictor(stream_onnx, threads=1)


def run(video, predictor, smoothing) -> tuple[list, list]:
    raw, out = [], []
    with Stream(video, predictor, realtime=False, smoothing=smoothing) as s:
        for _, pred in s:
            raw.append(s.last_raw)
            out.append(pred)
    return raw, out


def probs_and_scores(preds) -> tuple[np.ndarray, np.ndarray]:
    return (np.stack([p.category.probs for p in preds]),
            np.stack([np.array(list(p.scores.values()), np.float32) for p in preds]))


def test_stream_output_is_the_window_mean_of_the_raw_sequence(video_30fps, predictor):
    raw, out = run(video_30fps, predictor, {"window": WINDOW})
    assert len(raw) == len(out) == 60
    rp, rs = probs_and_scores(raw)
    sp, ss = probs_and_scores(out)
    for i in range(len(raw)):
        lo = max(0, i - WINDOW + 1)
        np.testing.assert_allclose(sp[i], rp[lo:i + 1].mean(0), atol=1e-6, err_msg=f"frame {i}")
        np.testing.assert_allclose(ss[i], rs[lo:i + 1].mean(0), atol=1e-6, err_msg=f"frame {i}")
    # the premise: smoothing really moved the numbers on this video (the photo changes every 3 frames)
    assert np.abs(sp - rp).max() > 1e-3 and np.abs(ss - rs).max() > 1e-3
    # labels and category: the raw sequence replayed through a fresh smoother
    ref = ScoreSmoother(predictor.schema, SmoothingConfig(window=WINDOW), predictor.schema.thresholds())
    for i, (r, o) in enumerate(zip(raw, out)):
        want = smooth_prediction(r, ref, 5)
        assert o.category.label == want.category.label, f"frame {i}"
        assert o.attributes == want.attributes, f"frame {i}"
        assert [n for n, _ in o.category.top(5)] == [n for n, _ in want.category.top(5)]


def test_stream_ema_smoothing_by_hand(video_30fps, predictor):
    alpha = 0.3
    raw, out = run(video_30fps, predictor, SmoothingConfig(method="ema", alpha=alpha))
    rp, rs = probs_and_scores(raw)
    sp, ss = probs_and_scores(out)
    ep, es = rp[0], rs[0]
    for i in range(len(raw)):
        if i:
            ep, es = alpha * rp[i] + (1 - alpha) * ep, alpha * rs[i] + (1 - alpha) * es
        np.testing.assert_allclose(sp[i], ep, atol=1e-5, err_msg=f"frame {i}")
        np.testing.assert_allclose(ss[i], es, atol=1e-5, err_msg=f"frame {i}")


def test_no_smoothing_yields_the_raw_predictions(video_30fps, predictor):
    raw, out = run(video_30fps, predictor, None)
    for r, o in zip(raw, out):
        assert o is r or (o.category.label == r.category.label and o.scores == r.scores)
