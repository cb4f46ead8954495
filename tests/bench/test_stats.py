"""Percentiles, summaries and the timing loop."""
from __future__ import annotations

import numpy as np
import pytest

from edgefashion.bench.stats import summarize, throughput
from edgefashion.timing import percentile, run_timed, time_calls
from edgefashion.errors import BadInput


def test_percentiles_of_1_to_100():
    xs = list(range(1, 101))
    assert percentile(xs, 50) == pytest.approx(50.5)
    assert percentile(xs, 90) == pytest.approx(90.1)
    assert percentile(xs, 99) == pytest.approx(99.01)
    assert percentile(xs, 0) == 1 and percentile(xs, 100) == 100


@pytest.mark.parametrize("n", [1, 2, 7, 50, 333])
def test_percentiles_match_numpy_linear(n):
    xs = np.random.default_rng(n).lognormal(size=n)
    for q in (0, 1, 25, 50, 90, 99, 100):
        assert percentile(xs.tolist(), q) == pytest.approx(float(np.percentile(xs, q)), rel=1e-12)


def test_percentile_is_order_independent():
    assert percentile([5, 1, 3], 50) == 3


def test_bad_percentile_inputs():
    with pytest.raises(BadInput, match="empty"):
        percentile([], 50)
    with pytest.raises(BadInput, match="0..100"):
        percentile([1.0], 101)
    with pytest.raises(BadInput):
        summarize([])


def test_summary_fields_and_order():
    s = summarize([3.0, 1.0, 2.0, 10.0])
    assert s["n"] == 4 and s["min"] == 1.0 and s["max"] == 10.0
    assert s["mean"] == pytest.approx(4.0)
    assert s["std"] == pytest.approx(float(np.std([3, 1, 2, 10], ddof=1)))
    assert s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"]
    assert summarize([2.0])["std"] == 0.0


def test_throughput():
    assert throughput(8, [100.0, 100.0]) == pytest.approx(80.0)  # 16 images in 0.2 s


def test_run_timed_interleaves_and_counts():
    calls = []
    a = lambda: calls.append("a")  # noqa: E731
    b = lambda: calls.append("b")  # noqa: E731
    out = run_timed([a, b], warmup=2, iters=3)
    assert [len(x) for x in out] == [3, 3]
    assert calls == ["a", "b"] * 5
    assert all(v >= 0 for x in out for v in x)


def test_time_budget_keeps_a_minimum():
    import time

    out = time_calls(lambda: time.sleep(0.01), warmup=0, iters=100, max_seconds=0.001)
    assert len(out) == 3  # stopped early, after min_iters


def test_bad_counts():
    with pytest.raises(BadInput, match="iters"):
        time_calls(lambda: None, iters=0)
    with pytest.raises(BadInput, match="warmup"):
        time_calls(lambda: None, warmup=-1)
