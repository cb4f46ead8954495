"""Predictor overhead at batch 1 for the CPU MSFAN model (width 1.0, 224): how much of the end-to-end
time is preprocessing + post-processing + Python, and how much the Predictor adds over raw
Backend.infer on a ready tensor. Target: pre + post + Python <= 10 % of end to end.

    python benchmarks/bench_predictor_overhead.py                 # ONNX Runtime, real photos
    python benchmarks/bench_predictor_overhead.py --backends onnxruntime,pytorch --iters 20

The Predictor is handed encoded JPEG bytes (decode is part of its preprocessing); the e2e and raw
calls alternate, so load from other processes hits both alike. Writes
benchmarks/results/predictor_overhead.json and prints the split.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backends import default_model  # noqa: E402
from common import write_result  # noqa: E402

TARGET = 0.10


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help=".pt / .onnx (default: a fresh width-1.0 MSFAN at 224)")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--backends", default="onnxruntime")
    ap.add_argument("--iters", type=int, default=30, help="fewer is fine: MSFAN w1.0 is ~0.3 s a call")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--images", help="photos (default: clothing-small/validation)")
    ap.add_argument("--input", default="bytes", choices=["bytes", "array", "path"])
    ap.add_argument("--workdir")
    ap.add_argument("--json", help="output JSON path")
    args = ap.parse_args(argv)

    from edgefashion.bench.env import capture_environment
    from edgefashion.bench.inputs import default_image_dir, image_paths
    from edgefashion.bench.suite import run_suite

    src = args.images or default_image_dir()
    images = image_paths(src, 16) if src else []
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        work = Path(args.workdir or tmp)
        model = Path(args.model) if args.model else default_model(args, work)
        result = run_suite(model, variants=args.backends, batches=(1,), warmup=args.warmup,
                           iters=args.iters, threads=args.threads, images=images,
                           input_mode=args.input, max_seconds=args.max_seconds, workdir=work,
                           benchmark="predictor_overhead",
                           log=lambda s: print(s, file=sys.stderr, flush=True))
    rows = []
    for r in result["results"]:
        st, ov, lat = r["stages_ms"], r["overhead"], r["latency_ms"]
        rows.append({"variant": r["variant"], "e2e_mean_ms": lat["mean"], "e2e_p50_ms": lat["p50"],
                     "raw_mean_ms": r["raw_inference_ms"]["mean"],
                     **{f"{k}_mean_ms": st[k]["mean"] for k in st}, **ov, "n": lat["n"]})
        print(f"{r['variant']:<18} e2e {lat['mean']:8.2f} ms = pre {st['preprocess']['mean']:.2f} + infer "
              f"{st['inference']['mean']:.2f} + post {st['postprocess']['mean']:.2f} + Python "
              f"{st['other']['mean']:.2f}  -> pre+post+Python {100 * ov['pre_post_python_fraction']:.1f}%;"
              f" vs raw Backend.infer ({r['raw_inference_ms']['mean']:.2f} ms): "
              f"{100 * ov['vs_raw_fraction']:.1f}%  (n={lat['n']})")
    for s in result["skipped"]:
        print(f"skipped {s['variant']}: {s['reason']}")
    if not rows:
        return 1
    main_row = rows[0]
    frac = main_row["pre_post_python_fraction"]
    met = frac <= TARGET
    print(f"target: pre + post + Python <= {100 * TARGET:.0f}% of end to end at batch 1 "
          f"({main_row['variant']}): {100 * frac:.1f}% -> {'met' if met else 'NOT met'}")
    out = write_result("predictor_overhead", {
        "format": "edgefashion-bench-target", "benchmark": "predictor_overhead",
        "target": f"pre + post + Python <= {100 * TARGET:.0f}% of end to end, batch 1, CPU MSFAN "
                  f"w{args.width} {args.input_size} ({main_row['variant']})",
        "measured": frac, "met": met,
        "measured_text": f"{100 * frac:.1f}% (pre {main_row['preprocess_mean_ms']:.2f} + post "
                         f"{main_row['postprocess_mean_ms']:.2f} + Python {main_row['other_mean_ms']:.2f} "
                         f"of {main_row['e2e_mean_ms']:.1f} ms); vs raw infer "
                         f"{100 * main_row['vs_raw_fraction']:.1f}%",
        "settings": result["settings"], "model": result["model"], "rows": rows,
        "skipped": result["skipped"], "environment": capture_environment(),
    }, args.json)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
