"""Latency benchmarks of the Predictor: timing, percentiles, stage split, memory, cold start,
environment capture, JSON results, tables and plots.

    from edgefashion.bench import run_suite, console_table
    result = run_suite("model.onnx", batches=(1, 8), iters=50)
    print(console_table(result))

Submodules import nothing heavy at import time (``python -m edgefashion.bench.coldstart`` must start
fast); torch / onnxruntime / matplotlib are imported only where used.
"""
from __future__ import annotations

__all__ = ["run_suite", "console_table", "markdown_table", "validate_result", "plot_latency",
           "bench_predictor", "capture_environment", "cold_start", "percentile", "summarize"]

_WHERE = {
    "run_suite": "suite", "console_table": "report", "markdown_table": "report",
    "validate_result": "report", "plot_latency": "plot", "bench_predictor": "latency",
    "capture_environment": "env", "cold_start": "coldstart", "percentile": "stats",
    "summarize": "stats",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"edgefashion.bench.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'edgefashion.bench' has no attribute {name!r}")
