"""Every model in the zoo at full size: parameters, ONNX size and CPU latency (ONNX Runtime).

    python benchmarks/zoo_latency.py --threads 2 --json benchmarks/results/zoo_latency_cpu.json

Full size = the paper's defaults with DeepFashion-C's heads (50 categories, 1000 attributes),
224 x 224, random weights (latency does not depend on them). Each model is exported with the
project's exporter (checked against PyTorch) and timed through the Predictor's raw ``infer`` at
batch 1 after a warm-up; the p50 / p90 come from ``benchmarks.common.time_fn``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_info, time_fn  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated (default: all registered)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from edgefashion.export.onnx import export_onnx
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model, get_model_class, list_models
    from edgefashion.runtime.predictor import Predictor
    from edgefashion.runtime.preprocess import PreprocessConfig

    torch.set_num_threads(args.threads)
    schema = LabelSchema.simple([f"c{i}" for i in range(50)],
                                {g: [f"{g}{i}" for i in range(200)]
                                 for g in ("texture", "fabric", "shape", "part", "style")})
    prep = PreprocessConfig(input_size=args.size)
    x = np.random.default_rng(0).standard_normal((1, 3, args.size, args.size)).astype(np.float32)
    results = []
    for name in (args.models.split(",") if args.models else list_models()):
        cls = get_model_class(name)
        opts = {"input_size": args.size}
        if hasattr(cls, "schema_options"):
            opts.update(cls.schema_options(schema))
        torch.manual_seed(0)
        model = create_model(name, schema.num_categories, schema.num_attributes, **opts).eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.onnx"
            export_onnx(model, schema, prep, path, self_test=False)
            size_mb = path.stat().st_size / 1e6
            p = Predictor(path, threads=args.threads)
            stats = time_fn(lambda: p.infer(x), warmup=3, iters=args.iters)
            p.close()
        row = {"model": name, "params_m": round(sum(t.numel() for t in model.parameters()) / 1e6, 2),
               "onnx_mb": round(size_mb, 1), "latency_ms": stats}
        print(json.dumps({k: row[k] for k in ("model", "params_m", "onnx_mb")}
                         | {"p50_ms": round(stats["p50_ms"], 1)}), flush=True)
        results.append(row)
        del model
    doc = {"benchmark": "zoo_latency", "machine": machine_info(),
           "settings": {"threads": args.threads, "batch": 1, "size": args.size, "iters": args.iters,
                        "backend": "onnxruntime CPU", "heads": "50 categories, 1000 attributes"},
           "results": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
