"""MSFAN's SpatialGate modules timed alone, on the model's own lateral tensors: fused vs reference.

    python benchmarks/msfan_gate_levels.py --device cuda --batch 8

The e2e per-stage numbers (bench_ops.py --e2e) synchronize around every module, and one synchronized call
costs hundreds of microseconds for either implementation; this times each gate the way bench_ops.py times
the ops (batches of calls; on a GPU also CUDA-graph replays), alternating the implementations twice.
Writes benchmarks/results/msfan_gate_levels_<device>_<host>.json and prints a table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ops import Timer  # noqa: E402
from common import machine_info, write_result  # noqa: E402

import torch  # noqa: E402

from edgefashion import ops  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def gate_levels(device: str, kind: str, batch: int, width: float, timer: Timer) -> list[dict]:
    from edgefashion.models import create_model

    dtype = DTYPES[kind]
    model = create_model("msfan", 50, 1000, width=width, input_size=224).eval().to(device=device, dtype=dtype)
    x = torch.randn(batch, 3, 224, 224, device=device).to(dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rows = []
    with torch.inference_mode():
        levels, _ = model._levels(x)
        for lvl in sorted(levels):
            lat = levels[lvl] if lvl == 4 else model.lateral[str(lvl)](levels[lvl])
            gate = model.gates[str(lvl)]
            row = {"dtype": kind, "level": lvl, "shape": list(lat.shape), "runs": []}
            for impl in ("reference", "fused") * 2:
                with ops.set_impl(impl):
                    per_call = timer.per_call(lambda i: gate(lat), 1)
                    graph = timer.graph_per_call(lambda i: gate(lat), 1)
                    sync()
                    t0 = time.perf_counter()
                    gate(lat)
                    sync()
                    one = (time.perf_counter() - t0) * 1e3
                row["runs"].append({"impl": impl, "per_call_us": per_call * 1e3,
                                    "graph_us": None if graph is None else graph * 1e3,
                                    "one_synced_call_us": one * 1e3})
            best = lambda impl, key: min(r[key] for r in row["runs"] if r["impl"] == impl)  # noqa: E731
            row["per_call_gain"] = best("reference", "per_call_us") / best("fused", "per_call_us")
            if device == "cuda":
                row["graph_gain"] = best("reference", "graph_us") / best("fused", "graph_us")
            rows.append(row)
            print(f"{kind} level {lvl} {tuple(lat.shape)}: per-call gain {row['per_call_gain']:.2f}"
                  + (f", graph gain {row['graph_gain']:.2f}" if "graph_gain" in row else ""), flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtypes", default="fp32,fp16")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--json", help="output JSON path")
    args = ap.parse_args(argv)
    timer = Timer(args.device, 0.3, "min")
    rows = [r for kind in args.dtypes.split(",") for r in gate_levels(args.device, kind, args.batch, args.width, timer)]
    path = write_result(f"msfan_gate_levels_{args.device}_{machine_info()['host']}",
                        {"device": args.device, "batch": args.batch, "width": args.width, "rows": rows}, args.json)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
