"""Shared by the benchmark scripts: timing and JSON results. The machine / version facts come from
the package (``edgefashion.bench.env``, the one machine-facts module), re-exported here."""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Callable

from edgefashion.bench.env import capture_environment, cpu_isa, machine_info  # noqa: F401

RESULTS = Path(__file__).resolve().parent / "results"


def time_fn(fn: Callable[[], object], warmup: int = 3, iters: int = 20,
            min_seconds: float = 0.0) -> dict:
    """Latency statistics in milliseconds over ``iters`` calls (more if ``min_seconds`` not reached)."""
    for _ in range(warmup):
        fn()
    samples, start = [], time.perf_counter()
    while len(samples) < iters or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1e3)
    samples.sort()
    q = lambda p: samples[min(len(samples) - 1, int(p * len(samples)))]  # noqa: E731
    return {"n": len(samples), "mean_ms": statistics.fmean(samples), "p50_ms": q(0.5),
            "p90_ms": q(0.9), "p99_ms": q(0.99), "min_ms": samples[0]}


def write_result(name: str, payload: dict, out: str | Path | None = None) -> Path:
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine_info(), **payload}, indent=2) + "\n")
    return path
