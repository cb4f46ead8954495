"""benchmarks/calibration.py's cross-fitting: every row scored once by a temperature fitted without
it, the figures pooled by rows."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.calibration import cross_fitted, kept_above, pooled  # noqa: E402
from edgefashion.training.temperature import calibration_error, log_softmax, nll  # noqa: E402


def _overconfident(n=600, k=4, scale=3.0, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, k))
    p = np.exp(log_softmax(z))
    y = np.array([rng.choice(k, p=row) for row in p])
    return z * scale, y  # calibrated at T = scale


def test_cross_fitting_scores_every_row_once_and_finds_the_temperature():
    z, y = _overconfident()
    r = cross_fitted(z, y, folds=5, seed=0, prior=10.0)
    assert r["rows"] == 600 and len(r["fold_temperatures"]) == 5
    assert r["ece_raw"] == pytest.approx(calibration_error(np.exp(log_softmax(z)), y))
    assert r["nll_raw"] == pytest.approx(nll(z, y))  # at T = 1 the folds change nothing
    assert all(t == pytest.approx(3.0, rel=0.25) for t in r["fold_temperatures"])
    assert r["ece"] < r["ece_raw"] / 2 and r["nll"] < r["nll_raw"]
    assert r["top1"] == pytest.approx((z.argmax(1) == y).mean())


def test_pooled_weights_heads_by_rows():
    a = {"rows": 100, "ece_raw": 0.2, "ece": 0.1, "nll_raw": 1.0, "nll": 0.5}
    b = {"rows": 300, "ece_raw": 0.1, "ece": 0.1, "nll_raw": 0.5, "nll": 0.5}
    p = pooled([a, b])
    assert p["rows"] == 400 and p["ece_raw"] == pytest.approx(0.125) and p["nll_raw"] == pytest.approx(0.625)


def test_kept_above_counts_the_answers_a_cut_keeps():
    probs = np.array([[0.95, 0.05], [0.6, 0.4], [0.2, 0.8], [0.5, 0.5]])
    y = np.array([0, 1, 1, 0])
    k = kept_above(probs, y, cuts=(0.5, 0.9, 0.99))
    assert k["0.5"] == {"kept": 1.0, "right": 0.75}  # 0.5 exactly is kept; argmax of a tie is 0
    assert k["0.9"] == {"kept": 0.25, "right": 1.0}
    assert k["0.99"]["kept"] == 0.0 and k["0.99"]["right"] != k["0.99"]["right"]  # nan: nothing kept
