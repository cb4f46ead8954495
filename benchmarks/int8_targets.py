"""int8 you can ship: PTQ, PTQ + the layer fallback, and QAT, each judged on every CPU target.

    python benchmarks/int8_targets.py runs/cs/best.onnx --calib ../shared/data/clothing-small/train \\
        --eval ../shared/data/clothing-small/validation --checkpoint runs/cs/best.pt \\
        --data ../shared/data/clothing-small --qat-minutes 10 --json benchmarks/results/int8_targets_cs.json

One run, one machine, side by side:

- "ptq": ``quantize`` with the gate reporting only and no fallback (what PTQ alone gives);
- "ptq+fallback": ``quantize``'s defaults (targets: auto + ONNX Runtime; the fallback when the gate
  fails); when PTQ already passes there is nothing to fall back from and the row says so;
- "qat" (with ``--checkpoint`` and ``--data``): ``quantize CKPT --qat`` with the gate reporting only.

Each file is then judged against the fp32 file on every target of ``--targets`` (default ONNX
Runtime, OpenVINO, OpenVINO + bf16): top-1 agreement, top-1 / top-3 change, attribute top-3 overlap,
the share of MACs left in fp32; and its batch-1 latency (median of ``--iters`` calls on a
preprocessed image), fp32 and every int8 file measured in the same loop on each target.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from edgefashion.precision import quantize_onnx  # noqa: E402
from edgefashion.precision import target_eval as te  # noqa: E402
from edgefashion.precision.accuracy import accuracy_report  # noqa: E402
from edgefashion.precision.calibration import resolve_images, split_images  # noqa: E402
from edgefashion.precision.fallback import FallbackSettings, mac_counts  # noqa: E402
from edgefashion.precision.gate import gate  # noqa: E402
from edgefashion.runtime.metadata import preprocess_from_metadata, read_onnx_metadata, schema_from_metadata  # noqa: E402

TARGETS = "onnxruntime,openvino,openvino:bf16"


def fp32_share(path: Path) -> float:
    """The share of the file's MACs whose weights are not int8 (no DequantizeLinear feeds them)."""
    import onnx

    model = onnx.load(str(path))
    macs = mac_counts(model)
    dq = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    fp32 = sum(m for n in model.graph.node if (m := macs.get(n.name)) and n.input[1] not in dq)
    return fp32 / max(1, sum(macs.values()))


def judge(src: Path, files: dict[str, Path], targets: list[str], eval_paths: list, threads: int | None
          ) -> dict:
    meta = read_onnx_metadata(src)
    prep, schema = preprocess_from_metadata(meta), schema_from_metadata(meta)
    images = te.EvalImages.load(eval_paths, prep, schema)
    ref = te.run_outputs(src, "onnxruntime", images, threads)
    out = {}
    for name, path in files.items():
        rows = {}
        for t in targets:
            r = accuracy_report(ref, te.run_outputs(path, t, images, threads), images.labels, schema)
            g = gate(r)
            c = r["category"]
            rows[t] = {"top1_agreement": c["top1_agreement"], "top1_fp32": c["reference"]["top1"],
                       "top1": c["candidate"]["top1"], "top1_delta_points": c["delta_points"]["top1"],
                       "top3_delta_points": c["delta_points"]["top3"],
                       "attribute_top3_overlap": (r.get("attributes") or {}).get("top3_overlap"),
                       "logits_cosine_mean": r["outputs"]["category_logits"]["cosine_mean"],
                       "gate_passed": g["passed"], "gate_failed": g["failed"]}
        out[name] = rows
    return out


def latency(src: Path, files: dict[str, Path], targets: list[str], eval_paths: list, iters: int,
            threads: int | None, rounds: int = 3) -> dict:
    meta = read_onnx_metadata(src)
    x = te.EvalImages.load(eval_paths[:1], preprocess_from_metadata(meta), None).batches[0]
    every = {"fp32": src, **files}  # interleaved over rounds (target_eval.interleaved_p50_ms)
    return {t: te.interleaved_p50_ms(every, t, x, threads, iters, rounds) for t in targets}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="fp32 .onnx (edgefashion export)")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--eval", dest="eval_images")
    ap.add_argument("--checkpoint", help="best.pt, for the QAT row")
    ap.add_argument("--data", help="training data, for the QAT row")
    ap.add_argument("--qat-minutes", type=float, default=10.0)
    ap.add_argument("--targets", default=TARGETS, help="where every file is judged and timed")
    ap.add_argument("--gate-targets", help="quantize's --targets (default: its own defaults)")
    ap.add_argument("--fallback-budget", type=float, default=0.25)
    ap.add_argument("--weight-bits", type=int, choices=(8, 7), help="quantize's --weight-bits")
    ap.add_argument("--no-qat", action="store_true", help="skip the QAT row even with --checkpoint")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3, help="latency rounds over every file (median taken)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--label", default="")
    ap.add_argument("--json", help="result path (default benchmarks/results/int8_targets.json)")
    args = ap.parse_args(argv)
    src, targets = Path(args.model), args.targets.split(",")
    rows, files, timing = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="int8-targets-") as tmp:
        common = dict(calib=args.calib, eval_images=args.eval_images, threads=args.threads,
                      progress=False, calib_cache=None, log=lambda m: print(m, file=sys.stderr),
                      targets=args.gate_targets, weight_bits=args.weight_bits)
        t0 = time.monotonic()
        ptq = quantize_onnx(src, Path(tmp) / "ptq.onnx", "int8", max_drop=None, fallback=False, **common)
        timing["ptq_s"] = round(time.monotonic() - t0, 1)
        files["ptq"] = Path(ptq["output"])
        rows["ptq"] = {"fp32_share": fp32_share(files["ptq"]), "weight_bits": ptq["weight_bits"],
                       "gate_targets": [t["target"] for t in ptq["targets"]],
                       "gate_failed": {t: r["gate"]["failed"] for t, r in ptq["target_reports"].items()}}
        t0 = time.monotonic()
        try:
            fb = quantize_onnx(src, Path(tmp) / "fallback.onnx", "int8",
                               fallback=FallbackSettings(budget=args.fallback_budget), **common)
            files["ptq+fallback"] = Path(fb["output"])
            rec = fb.get("fallback")
            rows["ptq+fallback"] = {"written": True, "fp32_share": fp32_share(files["ptq+fallback"]),
                                    "fallback_ran": rec is not None,
                                    "returned": rec["returned"] if rec else [],
                                    "calibration_method": fb.get("method"),
                                    "steps": rec["steps"] if rec else [],
                                    "trims": (rec or {}).get("trims", []),
                                    "fp32_share_untrimmed": (rec or {}).get("fp32_share_untrimmed"),
                                    "ranking": (rec or {}).get("ranking", [])[:10]}
        except Exception as e:  # noqa: BLE001 - a refusal is a result too
            rec = (getattr(e, "report", None) or {}).get("fallback")
            rows["ptq+fallback"] = {"written": False, "error": str(e)[:600], "fallback": rec}
        timing["ptq_fallback_s"] = round(time.monotonic() - t0, 1)
        if args.checkpoint and args.data and not args.no_qat:
            from edgefashion.precision.qat_gate import quantize_qat

            t0 = time.monotonic()
            q = quantize_qat(args.checkpoint, args.data, Path(tmp) / "qat.int8.onnx",
                             max_minutes=args.qat_minutes, max_drop=None, eval_images=args.eval_images,
                             threads=args.threads, progress=False,
                             log=lambda m: print(m, file=sys.stderr))
            timing["qat_s"] = round(time.monotonic() - t0, 1)
            files["qat"] = Path(q["output"])
            rows["qat"] = {"fp32_share": fp32_share(files["qat"]),
                           "qat": {k: q["qat"][k] for k in ("library", "version", "epochs", "steps",
                                                            "minutes", "lr", "val_category_top1",
                                                            "weight_bits", "keep_fp32")}}
        calib_paths = resolve_images(args.calib, "calibration")
        # quantize's own default: the held-out calibration images, else the calibration images
        eval_paths = resolve_images(args.eval_images, "evaluation") if args.eval_images else \
            (split_images(calib_paths, 256)[1] or calib_paths)
        eval_paths = split_images(eval_paths, 500, seed=1)[0] if len(eval_paths) > 500 else eval_paths
        per_target = judge(src, files, targets, eval_paths, args.threads)
        lat = latency(src, files, targets, eval_paths, args.iters, args.threads, args.rounds)
    for name in files:
        rows[name]["targets"] = per_target[name]
    for t, ms in lat.items():
        for name in files:
            gain = ms["fp32"] - ms["ptq"]
            rows[name]["targets"][t]["latency_ms"] = ms[name]
            rows[name]["targets"][t]["speedup_vs_fp32"] = ms["fp32"] / ms[name]
            rows[name]["targets"][t]["int8_speedup_kept"] = (ms["fp32"] - ms[name]) / gain if gain > 0 else None
    payload = {"benchmark": "int8_targets", "label": args.label, "model": str(src),
               "gate_targets": args.gate_targets or "quantize's defaults",
               "fallback_budget": args.fallback_budget, "weight_bits": args.weight_bits or "default",
               "command": " ".join(sys.argv), "calib": args.calib, "eval": args.eval_images,
               "num_eval_images": len(eval_paths), "targets": targets, "fp32_latency_ms":
               {t: ms["fp32"] for t, ms in lat.items()}, "wall_s": timing, "rows": rows}
    path = write_result("int8_targets", payload, args.json)
    print(json.dumps({n: {t: (round(v["top1_agreement"], 4), round(v["latency_ms"], 2))
                          for t, v in r["targets"].items()} for n, r in rows.items() if "targets" in r},
                     indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
