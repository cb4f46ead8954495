"""Predictor latency per backend and precision: PyTorch eager, ONNX Runtime fp32 / fp16 / int8 and
TensorRT (when installed), for each model given, measured in one run on real photos.

    python benchmarks/bench_backends.py                         # width-1.0 MSFAN at 224, CPU
    python benchmarks/bench_backends.py --models a.pt b.onnx --batch 1,8 --device cuda

Without --models a width-1.0 MSFAN (DeepFashion-C heads: 50 categories, 1000 attributes) is made
with random weights (latency does not depend on the weights). fp16 / int8 ONNX come from
edgefashion.precision.quantize_onnx (int8 calibrated on clothing-small train photos); engines from
edgefashion.engine; what is not installed is skipped with its reason in the JSON.
Writes benchmarks/results/backends_<name>.json (+ .png, the latency distribution) and prints a table;
`python benchmarks/make_table.py` then refreshes the table in benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", help=".pt / .onnx / .engine files (default: a fresh MSFAN)")
    ap.add_argument("--width", type=float, default=1.0, help="width of the default MSFAN")
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--backends", default="all",
                    help="e.g. pytorch,onnxruntime:fp32,onnxruntime:int8,tensorrt:fp16 (default all)")
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--max-seconds", type=float, default=60.0,
                    help="time budget per (variant, batch); fewer iterations on slow ones (>= 3)")
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads (default: runtime's)")
    ap.add_argument("--device", help="cpu (default) or cuda")
    ap.add_argument("--images", help="photos to run on (default: clothing-small/validation)")
    ap.add_argument("--calib", help="int8 calibration photos (default: clothing-small/train)")
    ap.add_argument("--num-calib", type=int, default=64)
    ap.add_argument("--cold-start-runs", type=int, default=3, help="0 to skip cold start")
    ap.add_argument("--workdir", help="keep exported / quantized files here (reused next time)")
    ap.add_argument("--name", help="result name (default: w<width>[_<device>] or the model stem)")
    ap.add_argument("--json", help="output JSON path (one model only)")
    args = ap.parse_args(argv)

    from edgefashion.bench.inputs import default_image_dir, image_paths
    from edgefashion.bench.plot import plot_latency
    from edgefashion.bench.report import console_table, validate_result
    from edgefashion.bench.suite import run_suite

    data = default_image_dir()
    images = image_paths(args.images or data, 16) if (args.images or data) else []
    calib_src = args.calib or (data.parent / "train" if data else None)
    calib = image_paths(calib_src, args.num_calib) if calib_src else []
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        work = Path(args.workdir or tmp)
        models = [Path(m) for m in args.models] if args.models else [default_model(args, work)]
        for model in models:
            name = args.name or (f"w{args.width}" if not args.models else model.stem)
            if args.device and args.device != "cpu":
                name += f"_{args.device.replace(':', '')}"
            result = run_suite(
                model, variants=args.backends, batches=args.batch, warmup=args.warmup,
                iters=args.iters, threads=args.threads, device=args.device, images=images,
                max_seconds=args.max_seconds, cold_start_runs=args.cold_start_runs,
                workdir=work / model.stem, calib=calib, benchmark="backends",
                log=lambda s: print(s, file=sys.stderr, flush=True))
            validate_result(result)
            print(console_table(result))
            out = write_result(f"backends_{name}", result, args.json)
            print(f"wrote {out}")
            if result["results"]:
                print(f"wrote {plot_latency(result, out.with_suffix('.png'))}")
    return 0


def default_model(args, work: Path) -> Path:
    """A width-``args.width`` MSFAN checkpoint with DeepFashion-C-sized heads, saved in ``work``."""
    import torch

    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model, save_checkpoint
    from edgefashion.runtime.preprocess import PreprocessConfig

    schema = _deepfashion_schema() or LabelSchema.simple(
        [f"category{i}" for i in range(50)],
        {g: [f"{g}{i}" for i in range(200)] for g in ("texture", "fabric", "shape", "part", "style")})
    torch.manual_seed(0)
    model = create_model("msfan", schema.num_categories, schema.num_attributes, width=args.width,
                         input_size=args.input_size).eval()
    path = work / f"msfan_w{args.width}_{args.input_size}.pt"
    if not path.exists():
        save_checkpoint(path, model, schema, PreprocessConfig(input_size=args.input_size))
    return path


def _deepfashion_schema():
    """The real DeepFashion-C schema (50 categories, 1000 attributes) when the metadata is there."""
    from edgefashion.bench.inputs import default_image_dir

    data = default_image_dir()
    meta = data.parents[1] / "deepfashion-meta" / "Anno_coarse" if data else None
    if meta is None or not (meta / "list_category_cloth.txt").is_file():
        return None
    from edgefashion.labels import LabelSchema

    return LabelSchema.from_deepfashion(meta / "list_category_cloth.txt", meta / "list_attr_cloth.txt")


if __name__ == "__main__":
    sys.exit(main())
