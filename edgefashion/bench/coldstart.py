"""Cold start: a fresh Python process, from its start to the first answer.

The parent starts ``python -m edgefashion.bench.coldstart MODEL --image IMG ...`` and stops its clock
when the child prints its result line (right after the first prediction, before interpreter
teardown). The child reports its own split: importing the Predictor, loading the model, the first
prediction, and its peak RSS. ``interpreter_ms`` = wall - the child's own total: Python start-up and
the module machinery. The OS file cache is warm after the first run; ``runs`` > 1 shows that.
"""
from __future__ import annotations

import time

_T0 = time.perf_counter()  # as early as this module allows, for the child's own split

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import selectors  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from edgefashion.errors import BadInput, EdgeFashionError  # noqa: E402

MARK = "EDGEFASHION_COLDSTART "


def cold_start(model: str | Path, image: str | Path, backend: str = "auto", device: str | None = None,
               threads: int | None = None, runs: int = 1, timeout: float = 600.0) -> dict:
    """Run ``runs`` fresh processes; -> {"runs": [...], "wall_ms": summary, ...}."""
    from edgefashion.bench.stats import summarize

    if int(runs) < 1:
        raise BadInput(f"runs={runs} must be at least 1")
    cmd = [sys.executable, "-m", "edgefashion.bench.coldstart", str(model), "--image", str(image),
           "--backend", backend]
    if device:
        cmd += ["--device", device]
    if threads:
        cmd += ["--threads", str(int(threads))]
    results = [_one_run(cmd, timeout) for _ in range(int(runs))]
    return {"model": str(model), "backend": results[0]["backend"], "device": results[0]["device"],
            "runs": results, "wall_ms": summarize([r["wall_ms"] for r in results]),
            "note": "run 1 may read the model from disk; later runs find it in the OS file cache"}


def _one_run(cmd: list[str], timeout: float) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line, wall = None, None
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = t0 + timeout
        while line is None and time.perf_counter() < deadline:
            if not sel.select(max(0.0, deadline - time.perf_counter())):
                break
            text = proc.stdout.readline()
            if not text:  # the child exited without answering
                break
            if text.startswith(MARK):
                wall = (time.perf_counter() - t0) * 1e3
                line = text[len(MARK):]
    finally:
        if line is None:
            proc.kill()
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    if line is None:
        tail = (err or "").strip().splitlines()[-3:]
        raise EdgeFashionError(
            f"cold-start child did not answer (exit code {proc.returncode}, timeout {timeout:.0f} s): "
            f"{' | '.join(tail) or 'no error output'}; run `{' '.join(cmd)}` to see why"
        )
    child = json.loads(line)
    child["wall_ms"] = wall
    child["interpreter_ms"] = wall - child["total_ms"]
    return child


def _child(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgefashion.bench.coldstart")
    ap.add_argument("model")
    ap.add_argument("--image", required=True)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device")
    ap.add_argument("--threads", type=int)
    args = ap.parse_args(argv)
    from edgefashion.bench.memory import process_peak_rss_mib
    from edgefashion.bench.variants import open_predictor
    from edgefashion.runtime.backends.base import backend_name_for

    t_import0 = time.perf_counter()
    import edgefashion.runtime.predictor  # noqa: F401  (the import cost users pay)

    t_load0 = time.perf_counter()
    backend = backend_name_for(args.model, prefer_available=True) if args.backend == "auto" else args.backend
    predictor = open_predictor(args.model, backend, args.device, args.threads)
    t_first0 = time.perf_counter()
    pred = predictor(args.image)
    t_end = time.perf_counter()
    out = {
        "backend": predictor.backend.name, "device": predictor.backend.device,
        "import_ms": (t_load0 - t_import0) * 1e3, "load_ms": (t_first0 - t_load0) * 1e3,
        "first_prediction_ms": (t_end - t_first0) * 1e3, "total_ms": (t_end - _T0) * 1e3,
        "rss_peak_mib": process_peak_rss_mib(), "top1": pred.category.label if pred.category else None,
    }
    print(MARK + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child())
