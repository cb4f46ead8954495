"""Shared by the benchmark scripts: timing and JSON results. The machine / version facts come from
the package (``edgefashion.bench.env``, the one machine-facts module), re-exported here."""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Callable

from edgefashion.bench.env import capture_environment, cpu_isa, machine_info  # noqa: F401
from edgefashion.timing import percentile, time_calls

RESULTS = Path(__file__).resolve().parent / "results"


def time_fn(fn: Callable[[], object], warmup: int = 3, iters: int = 20,
            min_seconds: float = 0.0) -> dict:
    """Latency statistics in milliseconds over ``iters`` calls (more if ``min_seconds`` not reached)."""
    start = time.perf_counter()
    samples = time_calls(fn, warmup, iters)
    while time.perf_counter() - start < min_seconds:
        samples += time_calls(fn, 0, 1)
    return {"n": len(samples), "mean_ms": statistics.fmean(samples), "p50_ms": percentile(samples, 50),
            "p90_ms": percentile(samples, 90), "p99_ms": percentile(samples, 99), "min_ms": min(samples)}


def write_result(name: str, payload: dict, out: str | Path | None = None) -> Path:
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine_info(), **payload}, indent=2) + "\n")
    return path
