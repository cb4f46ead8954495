"""fp16 / int8 top-1 agreement of a trained msfan_lite on clothing-small/validation (issue 10, point 7).

    python benchmarks/msfan_lite_precision.py /work/runs/msfan_lite_best.pt \
        --json benchmarks/results/msfan_lite_precision_cpu.json

Runs the project's own commands, nothing else: ``edgefashion export`` (checked against PyTorch on
real photos), then ``edgefashion quantize --precision fp16`` and ``--precision int8`` (calibrated on
clothing-small/train, evaluated on every validation photo), and collects their reports. Targets:
fp16 >= 99.9 %, int8 >= 99 % top-1 agreement with fp32.

fp16 gets ``--calib`` too, so its weights use calibrated rounding (precision/fp16_rounding.py);
``--fp16-rounding nearest`` gives plain round-to-nearest. int8 uses ``quantize``'s own defaults for
an EfficientNet-Lite backbone (entropy ranges; the first conv, the heads, the attention gates and the
first two Lite stages in fp32: benchmarks/int8_settings.py) unless ``--calib-method`` /
``--int8-keep-fp32`` say otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_info  # noqa: E402

DATA = Path(os.environ.get("EDGEFASHION_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _summary(report: dict) -> dict:
    cat = report["accuracy"]["category"]
    out = {"top1_agreement": cat["top1_agreement"], "top5_overlap": cat.get("top5_overlap"),
           "num_images": report["accuracy"]["num_images"], "delta_points": cat.get("delta_points"),
           "candidate": cat.get("candidate"), "reference": cat.get("reference"),
           "labels": cat.get("labels")}
    out["outputs"] = {k: {m: v[m] for m in ("cosine_mean", "cosine_min", "max_abs", "mean_abs")}
                      for k, v in report["accuracy"]["outputs"].items() if "skipped" not in v}
    gate = report["accuracy"].get("gate", {})
    out["gate"] = {"passed_all_rules": not gate.get("failed"), "failed": gate.get("failed")}
    for key in ("keep_fp32", "method", "defaults_for", "calibration", "rounding", "calibrated_nodes"):
        if key in report:
            out[key] = report[key]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--data", type=Path, default=DATA / "clothing-small")
    ap.add_argument("--work", type=Path, help="where the .onnx files go (default: beside the checkpoint)")
    ap.add_argument("--calib-method", choices=("entropy", "percentile", "minmax"),
                    help="default: quantize's default for the model")
    ap.add_argument("--fp16-rounding", default="calibrated", choices=("calibrated", "nearest"))
    ap.add_argument("--int8-keep-fp32", nargs="+", help="default: quantize's default for the model")
    ap.add_argument("--calib-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)

    from edgefashion.cli.main import main as cli

    work = args.work or args.checkpoint.parent
    work.mkdir(parents=True, exist_ok=True)
    stem = work / args.checkpoint.stem
    val, train = args.data / "validation", args.data / "train"
    n_val = sum(1 for _ in val.glob("*/*.jpg"))
    fp32 = Path(f"{stem}.onnx")
    if cli(["export", str(args.checkpoint), "-o", str(fp32), "--check-images", str(val),
            "--num-check", "32"]):
        return 1
    results = {}
    fp16_extra = ["--calib", str(train)] if args.fp16_rounding == "calibrated" else []
    int8_options = [*(["--calib-method", args.calib_method] if args.calib_method else []),
                    *(["--keep-fp32", *args.int8_keep_fp32] if args.int8_keep_fp32 else [])]
    for precision, extra in (("fp16", fp16_extra),
                             ("int8", ["--calib", str(train), "--calib-size", str(args.calib_size),
                                       *int8_options])):
        out = Path(f"{stem}.{precision}.onnx")
        rc = cli(["quantize", str(fp32), "--precision", precision, "-o", str(out), "--eval", str(val),
                  "--eval-size", str(n_val), "--threads", str(args.threads), "--no-gate", "--quiet",
                  *extra])
        report = Path(f"{out}.report.json")
        results[precision] = _summary(json.loads(report.read_text())) if rc == 0 and report.is_file() \
            else {"error": f"edgefashion quantize exited {rc}"}
        print(precision, json.dumps({k: results[precision].get(k) for k in ("top1_agreement", "num_images")}))
    ckpt_meta = {}
    try:
        from edgefashion.models import read_checkpoint

        raw = read_checkpoint(args.checkpoint)
        ckpt_meta = {"model": raw["model"], "model_config": raw["model_config"],
                     "weights_info": raw.get("weights_info"), "preprocess": raw["preprocess"]}
    except Exception as e:  # noqa: BLE001 - the numbers above stand without it
        ckpt_meta = {"error": str(e)}
    doc = {"benchmark": "msfan_lite_precision", "machine": machine_info(),
           "checkpoint": str(args.checkpoint), "checkpoint_info": ckpt_meta,
           "eval": f"{val} ({n_val} photos), labels = fp32 top-1", "calibration": str(train),
           "targets": {"fp16": 0.999, "int8": 0.99}, "results": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
