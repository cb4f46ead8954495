"""Latency summaries of timed samples (the percentiles and the timing loop: edgefashion.timing)."""
from __future__ import annotations

import math
from typing import Sequence

from edgefashion.errors import BadInput
from edgefashion.timing import percentile

PERCENTILES = (50, 90, 99)


def summarize(samples_ms: Sequence[float]) -> dict:
    """n, mean, std, min, max and p50 / p90 / p99 of latencies in milliseconds."""
    xs = [float(v) for v in samples_ms]
    if not xs:
        raise BadInput("no samples to summarise; run at least one iteration")
    mean = sum(xs) / len(xs)
    var = sum((v - mean) ** 2 for v in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
    out = {"n": len(xs), "mean": mean, "std": math.sqrt(var), "min": min(xs), "max": max(xs)}
    for q in PERCENTILES:
        out[f"p{q}"] = percentile(xs, q)
    return out


def throughput(batch: int, samples_ms: Sequence[float]) -> float:
    """Images per second over all timed calls of ``batch`` images each."""
    total = sum(samples_ms)
    return batch * len(samples_ms) / (total / 1e3) if total > 0 else float("inf")
