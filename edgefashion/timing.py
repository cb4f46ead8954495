"""The one percentile definition and the one timing loop every published latency uses (benchmarks,
the int8 fallback's latency column, stream statistics, the bench package).

Percentiles use linear interpolation between closest ranks (numpy's default ``method="linear"``):
for samples 1..100, p50 = 50.5, p90 = 90.1, p99 = 99.01.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence

from edgefashion.errors import BadInput


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of ``samples`` by linear interpolation."""
    if not len(samples):
        raise BadInput("percentile of an empty list of samples; run at least one iteration")
    if not 0 <= q <= 100:
        raise BadInput(f"percentile q={q} must be within 0..100")
    xs = sorted(float(v) for v in samples)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def check_counts(warmup: int, iters: int) -> None:
    if int(warmup) < 0:
        raise BadInput(f"warmup={warmup} must be 0 or more")
    if int(iters) < 1:
        raise BadInput(f"iters={iters} must be at least 1")


def run_timed(fns: Sequence[Callable[[], object]], warmup: int = 3, iters: int = 20,
              max_seconds: float | None = None, min_iters: int = 3) -> list[list[float]]:
    """Time every function in ``fns`` ``iters`` times, interleaved (f0, f1, f0, f1, ...).

    Interleaving puts a burst of load from other processes on all functions alike, so that ratios
    measured in one run stay fair. ``max_seconds`` stops early (after at least ``min_iters`` rounds)
    when a slow model would take too long. Returns one list of milliseconds per function.
    """
    check_counts(warmup, iters)
    for _ in range(int(warmup)):
        for fn in fns:
            fn()
    samples: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    for i in range(int(iters)):
        for fn, out in zip(fns, samples):
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1e3)
        spent = time.perf_counter() - start
        if max_seconds is not None and i + 1 >= min_iters and spent >= max_seconds:
            break
    return samples


def time_calls(fn: Callable[[], object], warmup: int = 3, iters: int = 20,
               max_seconds: float | None = None) -> list[float]:
    """Milliseconds of ``iters`` calls of ``fn`` after ``warmup`` untimed calls."""
    return run_timed([fn], warmup, iters, max_seconds)[0]
