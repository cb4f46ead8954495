"""int8 settings side by side on exported models: which layers stay fp32, which calibration method.

    python benchmarks/int8_settings.py runs/a.onnx runs/b.onnx \
        --json benchmarks/results/int8_settings_msfan_lite.json

Each variant is one ``edgefashion.precision.quantize_onnx`` call (the gate reports but never refuses),
calibrated on clothing-small/train (256 photos), evaluated on every clothing-small/validation photo
against the fp32 file; calibration ranges are cached per method, so the variants differ only in
what they name. This is how the int8 defaults for EfficientNet-Lite backbones
(``precision/quantize.py: LITE_INT8_DEFAULTS``) were chosen; "product default" is what
``edgefashion quantize --precision int8`` does with no options.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402

DATA = Path(os.environ.get("EDGEFASHION_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
MSFAN_KEEP = ["first-conv", "heads"]
LITE_KEEP = ["first-conv", "heads", "gates", "*blocks.0.*", "*blocks.1.*"]
# name -> (keep_fp32, method); None = the product's default for the model
VARIANTS = {
    "product default": (None, None),
    "msfan defaults (first conv, heads; minmax)": (MSFAN_KEEP, "minmax"),
    "first conv, heads; entropy": (MSFAN_KEEP, "entropy"),
    "+ gates; minmax": (MSFAN_KEEP + ["gates"], "minmax"),
    "+ gates, Lite stages 0-1; minmax": (LITE_KEEP, "minmax"),
    "+ gates, Lite stages 0-1; percentile 99.999": (LITE_KEEP, "percentile"),
    "+ gates, Lite stages 0-1; entropy": (LITE_KEEP, "entropy"),
    "+ gates, Lite stages 0-1, every Add / Mul; minmax": (LITE_KEEP + ["op:Add", "op:Mul"], "minmax"),
}


def _row(res: dict, seconds: float) -> dict:
    acc = res["accuracy"]
    cat = acc["category"]
    return {
        "method": res["method"], "keep_fp32": res["keep_fp32"], "fp32_nodes": len(res["fp32_nodes"]),
        "top1_agreement": cat["top1_agreement"], "top1": cat["candidate"]["top1"],
        "fp32_top1": cat["reference"]["top1"], "top3_delta_points": cat["delta_points"]["top3"],
        "gate_failed": acc.get("gate", {}).get("failed", []),
        "outputs": {k: {m: v[m] for m in ("cosine_min", "cosine_mean", "max_abs")}
                    for k, v in acc["outputs"].items() if "skipped" not in v},
        "seconds": round(seconds, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path, help="fp32 .onnx files from edgefashion export")
    ap.add_argument("--data", type=Path, default=DATA / "clothing-small")
    ap.add_argument("--calib-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)

    from edgefashion.precision import quantize_onnx
    from edgefashion.runtime.metadata import read_onnx_metadata

    val = sorted(str(p) for p in (args.data / "validation").glob("*/*.jpg"))
    results = {}
    with tempfile.TemporaryDirectory(prefix="int8-settings-") as tmp:
        for model in args.models:
            meta = read_onnx_metadata(model) or {}
            rows = {}
            for name, (keep, method) in VARIANTS.items():
                cache = Path(tmp) / f"{model.stem}.{method or 'default'}.calib.json"
                t = time.perf_counter()
                res = quantize_onnx(model, Path(tmp) / f"{model.stem}.int8.onnx", "int8",
                                    calib=str(args.data / "train"), calib_size=args.calib_size,
                                    method=method, keep_fp32=keep, calib_cache=cache,
                                    eval_images=val, eval_size=len(val), max_drop=None,
                                    threads=args.threads, progress=False)
                rows[name] = _row(res, time.perf_counter() - t)
                r = rows[name]
                print(f"{model.name:28s} {name:50s} agreement {r['top1_agreement']:.4f} "
                      f"failed {r['gate_failed']}", flush=True)
            results[str(model)] = {"model": meta.get("model"), "model_config": meta.get("model_config"),
                                   "variants": rows}
    path = write_result("int8_settings", {
        "benchmark": "int8_settings", "command": " ".join(["int8_settings.py", *sys.argv[1:]]),
        "eval": f"{args.data / 'validation'} ({len(val)} photos), labels = fp32 top-1",
        "calibration": f"{args.data / 'train'} ({args.calib_size} photos)", "results": results,
    }, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
