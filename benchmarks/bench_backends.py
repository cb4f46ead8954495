"""PyTorch eager vs ONNX Runtime latency for MSFAN on the CPU, measured side by side.

    python benchmarks/bench_backends.py --width 1.0 --batch 1,8 --threads 2

Writes benchmarks/results/backends_<host>.json (machine, versions, date) and prints a table.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import time_fn, write_result  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--ops-impl", default="auto", choices=["auto", "fused", "reference"],
                    help="attention ops used by PyTorch eager (auto = fused kernels when built)")
    ap.add_argument("--json", help="output JSON path")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    import torch

    from edgefashion.export.onnx import export_onnx
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig

    from edgefashion import ops

    torch.set_num_threads(args.threads)
    ops.set_impl(args.ops_impl)
    schema = LabelSchema.simple([f"c{i}" for i in range(50)], {"texture": [f"a{i}" for i in range(20)]})
    model = create_model("msfan", 50, 20, width=args.width, input_size=args.input_size).eval()
    params = sum(p.numel() for p in model.parameters())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "msfan.onnx"
        export_onnx(model, schema, PreprocessConfig(input_size=args.input_size), path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        for b in (int(v) for v in args.batch.split(",")):
            x = np.random.default_rng(0).standard_normal((b, 3, args.input_size, args.input_size),
                                                         dtype=np.float32)
            xt = torch.from_numpy(x)

            def eager():
                with torch.inference_mode():
                    model(xt)

            res = {"pytorch_eager": time_fn(eager, args.warmup, args.iters),
                   "onnxruntime": time_fn(lambda: sess.run(None, {"image": x}), args.warmup, args.iters)}
            ratio = res["pytorch_eager"]["p50_ms"] / res["onnxruntime"]["p50_ms"]
            rows.append({"batch": b, **res, "ort_speedup_p50": ratio})
            print(f"batch {b:>3}: eager p50 {res['pytorch_eager']['p50_ms']:8.1f} ms   "
                  f"ORT p50 {res['onnxruntime']['p50_ms']:8.1f} ms   ORT speed-up {ratio:.2f}x", flush=True)
    out = write_result(f"backends_w{args.width}", {
        "benchmark": "msfan_cpu_backends", "width": args.width, "input_size": args.input_size,
        "threads": args.threads, "parameters": params, "ops_impl": args.ops_impl,
        "fused_ops_built": bool(_fused_built()), "results": rows}, args.json)
    print(f"wrote {out}")
    return 0


def _fused_built() -> bool:
    try:
        from edgefashion.ops.fused import available_ops

        return bool(available_ops())
    except ImportError:
        return False


if __name__ == "__main__":
    sys.exit(main())
