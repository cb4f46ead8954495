"""edgefashion bench MODEL: Predictor latency per backend / precision / batch, as a table, JSON, plot.

    edgefashion bench model.pt --backend pytorch,onnxruntime,onnxruntime:int8 --calib photos/ \\
        --batch 1,8 --iters 50 --json bench.json --plot bench.png --cold-start
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="latency benchmark: p50/p90/p99, throughput, stage split, "
                                     "memory, cold start, per backend and precision")
    p.add_argument("model", help=".pt checkpoint, .onnx or .engine")
    p.add_argument("--batch", default="1", help="batch sizes, comma separated (default 1)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    p.add_argument("--iters", type=int, default=20, help="timed calls per batch size (default 20)")
    p.add_argument("--max-seconds", type=float,
                   help="stop a (backend, batch) after this long, keeping >= 3 iterations")
    p.add_argument("--backend", default="auto",
                   help="backends, comma separated, each optionally :fp32/:fp16/:int8, e.g. "
                        "pytorch,onnxruntime,onnxruntime:int8,tensorrt:fp16; OpenVINO runs the same "
                        "files: openvino, openvino:int8, and precision hints openvino:bf16, "
                        "openvino:int8+bf16; 'all' for every one; "
                        "default: what MODEL's suffix gives (.pt: pytorch,onnxruntime)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: each backend's default)")
    p.add_argument("--threads", type=int, help="inference threads (ONNX Runtime, OpenVINO, PyTorch)")
    p.add_argument("--images", help="real images to run on (folder, list file or glob; default: "
                                    "one synthetic photo)")
    p.add_argument("--num-images", type=int, default=16, help="how many of --images to use")
    p.add_argument("--input", default="bytes", choices=["bytes", "array", "path"],
                   help="what the Predictor is handed: encoded bytes (decode timed, default), "
                        "decoded arrays (camera frames) or file paths")
    p.add_argument("--calib", help="real images for int8 calibration (folder, list file or glob)")
    p.add_argument("--num-calib", type=int, default=64, help="how many --calib images to use")
    p.add_argument("--workdir", help="keep the exported / quantized / built files here (reused "
                                     "by later runs); default: a temporary folder")
    p.add_argument("--cold-start", action="store_true",
                   help="also time fresh processes from start to the first answer")
    p.add_argument("--cold-start-runs", type=int, default=3, help="processes per backend (default 3)")
    p.add_argument("--json", help="write the full result (samples, environment) here")
    p.add_argument("--plot", help="write a latency-distribution PNG here")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.bench.inputs import image_paths
    from edgefashion.bench.report import console_table, validate_result
    from edgefashion.bench.suite import run_suite

    images = image_paths(args.images, args.num_images) if args.images else []
    calib = image_paths(args.calib, args.num_calib) if args.calib else []
    result = run_suite(
        args.model, variants=args.backend, batches=args.batch, warmup=args.warmup, iters=args.iters,
        threads=args.threads, device=args.device, images=images, input_mode=args.input,
        max_seconds=args.max_seconds, cold_start_runs=args.cold_start_runs if args.cold_start else 0,
        workdir=args.workdir, calib=calib, log=lambda s: print(s, file=sys.stderr, flush=True),
    )
    validate_result(result)
    print(console_table(result))
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}")
    if args.plot and result["results"]:
        from edgefashion.bench.plot import plot_latency

        print(f"wrote {plot_latency(result, args.plot)}")
    return 0 if result["results"] else 1
