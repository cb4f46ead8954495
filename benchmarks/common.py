"""Shared by the benchmark scripts: machine / version facts, timing, JSON results."""
from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info() -> dict:
    info = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(), "platform": platform.platform(), "machine": platform.machine(),
        "python": platform.python_version(), "cpu": _cpu_name(), "cpu_count": os.cpu_count(),
        "versions": {},
    }
    for m in ("edgefashion", "numpy", "cv2", "torch", "onnxruntime", "onnx", "cupy"):
        try:
            info["versions"][m] = getattr(importlib.import_module(m), "__version__", "?")
        except Exception:  # noqa: BLE001 - absent packages are simply not listed
            pass
    info["gpu"] = _gpu()
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _gpu() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.sm,temperature.gpu",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


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
