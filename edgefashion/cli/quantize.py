"""edgefashion quantize MODEL.onnx --precision fp16|int8 -o OUT: checked against fp32 before writing.

``edgefashion quantize best.pt --qat --data DATA --max-minutes N``: quantization-aware training of a
checkpoint, through the same gate (precision/qat_gate.py)."""
from __future__ import annotations

import argparse
import json
import sys

from edgefashion.cli.common import add_quiet_flag, deprecated, max_top1_drop_of, quiet_of


def add_parser(sub) -> None:
    p = sub.add_parser("quantize", help="make an fp16 / int8 (Q/DQ) ONNX, gated on accuracy vs fp32")
    p.add_argument("model", help="fp32 .onnx with edgefashion metadata (from edgefashion export); "
                                 "with --qat the training checkpoint (best.pt)")
    p.add_argument("--precision", choices=("fp16", "int8"),
                   help="default fp16 (int8 with --qat)")
    p.add_argument("-o", "--out", help="output .onnx (default: MODEL.<precision>.onnx)")
    p.add_argument("--fp16-io", action="store_true", help="fp16 model inputs / outputs (default fp32)")
    p.add_argument("--calib", metavar="DIR_OR_LIST",
                   help="calibration images: folder, list file or glob (int8: required; fp16: "
                        "optional, for calibrated rounding)")
    p.add_argument("--fp16-rounding", choices=("auto", "nearest", "calibrated"), default="auto",
                   help="fp16 weights: round to nearest, or choose each weight's fp16 neighbour so "
                        "the layer's output on the calibration images drifts least (auto: "
                        "calibrated when --calib is given)")
    p.add_argument("--calib-method", choices=("entropy", "percentile", "minmax"),
                   help="int8 activation ranges (default: the model's own; entropy for an "
                        "EfficientNet-Lite backbone, else minmax)")
    p.add_argument("--percentile", type=float, default=99.999, help="for --calib-method percentile")
    p.add_argument("--calib-size", type=int, default=256,
                   help="images used for calibration (the rest are evaluation images)")
    p.add_argument("--calib-cache", metavar="FILE",
                   help="calibration cache (default OUT.calib.json; reused when model, "
                        "preprocessing, method and images match); 'none': neither read nor write one")
    p.add_argument("--no-calib-cache", action="store_true", help=argparse.SUPPRESS)  # deprecated
    p.add_argument("--keep-fp32", nargs="+", metavar="PATTERN",
                   help="nodes left unquantized: presets gates, first-conv, heads; op:<OpType>; a "
                        "glob or substring of node names; 'none' (int8 default: first-conv heads; with an "
                        "EfficientNet-Lite backbone also gates '*blocks.0.*' '*blocks.1.*')")
    p.add_argument("--eval", metavar="DIR_OR_LIST", dest="eval_images",
                   help="evaluation images (default: held-out calibration images)")
    p.add_argument("--eval-size", type=int, default=500, help="at most this many evaluation images")
    p.add_argument("--max-drop", type=float, default=0.5,
                   help="fail, writing nothing, when top-3 accuracy drops more (points; default 0.5); "
                        "the gate also checks top-1 agreement, the top-1 drop and per-output cosine bounds")
    p.add_argument("--min-agreement", type=float,
                   help="fail when fewer images keep the fp32 top-1 category (fraction; default 0.995; "
                        "with --qat not a rule unless given: QAT's gate limits the top-1 accuracy drop "
                        "to --max-drop instead)")
    p.add_argument("--max-top1-drop", type=float, default=0.3, metavar="POINTS",
                   help="fail when top-1 accuracy on labelled evaluation images drops more (points; "
                        "default 0.3; -1: no rule; with --qat the top-1 limit is --max-drop)")
    p.add_argument("--no-gate", action="store_true", help="report every gate rule but never fail")
    p.add_argument("--targets", metavar="LIST",
                   help="runtimes the gate runs the candidate on, comma-separated: onnxruntime, "
                        "openvino, openvino:bf16, openvino:f16, tensorrt (default: the backend the "
                        "Predictor picks for the file here, plus onnxruntime)")
    p.add_argument("--no-fallback", action="store_true",
                   help="int8: refuse when the gate fails instead of returning the most harmful "
                        "layers to fp32 until it passes")
    p.add_argument("--fallback-budget", type=float, default=0.25, metavar="SHARE",
                   help="the most of the model's MACs the fallback may leave in fp32 (default 0.25)")
    p.add_argument("--report", help="report JSON (default OUT.report.json)")
    p.add_argument("--int8-format", choices=("qdq", "qoperator"), default="qdq",
                   help="qdq (default: what TensorRT builds) or qoperator (ORT CPU only)")
    p.add_argument("--int8-activations", choices=("int8", "uint8"), default="int8",
                   help="int8 (symmetric: TensorRT) or uint8 (ONNX Runtime on x86 CPUs without VNNI)")
    p.add_argument("--weight-bits", type=int, choices=(8, 7),
                   help="int8 weights in 8 bits or 7 (default 7 when an OpenVINO target runs on this "
                        "CPU without VNNI, whose int8 kernels saturate with 8-bit weights; else 8)")
    q = p.add_argument_group("quantization-aware training (int8, NVIDIA ModelOpt)")
    q.add_argument("--qat", action="store_true",
                   help="fine-tune the checkpoint MODEL with int8 fake quantization on --data, then "
                        "gate the Q/DQ file like a post-training one (for models PTQ cannot keep "
                        "within the gate)")
    q.add_argument("--data", help="--qat: the training data (any layout `edgefashion train` reads)")
    q.add_argument("--max-minutes", type=float, default=10.0, help="--qat: time budget (default 10)")
    q.add_argument("--qat-epochs", type=int, help="--qat: stop after this many epochs")
    q.add_argument("--qat-lr", type=float, help="--qat: learning rate (default 1e-5, cosine)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, help="ONNX Runtime threads for the evaluation")
    p.add_argument("--self-test-images", type=int, default=4,
                   help="reference images embedded for the load-time self-test")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_quiet_flag(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.precision.accuracy import format_report
    from edgefashion.precision.gate import AccuracyGateError
    from edgefashion.precision.quantize import quantize_onnx

    if args.qat and args.precision == "fp16":
        from edgefashion.errors import BadInput

        raise BadInput("--qat makes an int8 file; leave out --precision fp16")
    args.precision = args.precision or ("int8" if args.qat else "fp16")
    if args.targets and "tensorrt" in args.targets.lower().replace("trt", "tensorrt"):
        _register_engine_builder()
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    options = options_from_args(args)
    try:
        if args.qat:
            result = _qat(args, options, log)
        else:
            result = quantize_onnx(args.model, args.out, args.precision, options, log=log)
    except AccuracyGateError as e:
        for target, rep in (e.report.get("target_reports") or {"": e.report}).items():
            print(format_report(rep, f"{args.precision} vs fp32 on {target or 'ONNX Runtime'} "
                                     "(not written)"), file=sys.stderr)
        raise
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    ev = result["eval"]
    for target, rep in result["target_reports"].items():
        print(format_report(rep, f"{args.precision} vs fp32 on {target}, {ev['num_images']} images "
                                 f"({ev['source']})"))
    for line in fallback_lines(result.get("fallback"), result.get("method")):
        print(line)
    cal = result.get("calibration")
    if cal:
        print(f"calibration: {cal['images']} images, {result['method']}, cache "
              f"{'reused' if cal['cache_hit'] else 'written'}: {cal['cache']}")
    print(f"self-test: {result['self_test']['images']} reference images embedded, passed")
    print(f"wrote {result['output']}  (report: {result.get('report_path', 'not saved')})")
    return 0


def fallback_lines(fb: dict | None, method: str | None) -> list[str]:
    """What the fallback did, for the summary: the layers it returned to fp32, or only the calibration
    method it switched to (then no layer was returned and the record has no MAC share)."""
    if not fb:
        return []
    if not fb.get("returned"):
        tried = ", ".join(fb.get("calibration_methods") or {})
        return [f"fallback: calibration method {method} passed the gate (tried {tried}); "
                "no layer returned to fp32"]
    lines = [f"fallback: {', '.join(fb['returned'])} returned to fp32 ({fb['fp32_share']:.1%} of the "
             f"MACs in fp32, budget {fb['budget']:.0%}; ranked on {', '.join(fb['ranked_on'])})"]
    back = [t["node"] for t in fb.get("trims") or [] if t["passed"]]
    if fb.get("trims"):
        lines.append(f"  trimmed: {len(back)} of their {len(fb['trims'])} MAC layers back in int8 "
                     f"({fb['fp32_share_untrimmed']:.1%} -> {fb['fp32_share']:.1%} of the MACs in fp32)")
    for target, lat in fb.get("latency_ms", {}).items():
        kept = lat["speedup_kept"]
        lines.append(f"  {target}: fp32 {lat['fp32']:.2f} ms, int8 {lat['int8']:.2f} ms, fallback "
                     f"{lat['fallback']:.2f} ms (batch 1, median)"
                     + (f", {kept:.0%} of the int8 speed-up kept" if kept is not None else ""))
    return lines


def options_from_args(args):
    """The QuantizeOptions the flags name (precision/options.py)."""
    from edgefashion.precision.fallback import FallbackSettings
    from edgefashion.precision.options import QuantizeOptions

    return QuantizeOptions(
        calib=args.calib, method=args.calib_method, calib_size=args.calib_size,
        calib_cache=calib_cache_of(args), percentile=args.percentile, keep_fp32=args.keep_fp32,
        quant_format=args.int8_format, activations=args.int8_activations,
        weight_bits=args.weight_bits, fp16_io=args.fp16_io, fp16_rounding=args.fp16_rounding,
        eval_images=args.eval_images, eval_size=args.eval_size, targets=args.targets,
        max_drop=None if args.no_gate else args.max_drop, min_agreement=args.min_agreement,
        max_top1_drop=max_top1_drop_of(args),
        fallback=FallbackSettings(enabled=not args.no_fallback, budget=args.fallback_budget),
        self_test_images=args.self_test_images, batch_size=args.batch_size, threads=args.threads,
        progress=not quiet_of(args), report_path=args.report or "auto")


def calib_cache_of(args) -> str | None:
    """--calib-cache FILE, 'none' (no cache), or the default "auto" (OUT.calib.json); the deprecated
    --no-calib-cache means 'none'."""
    if args.no_calib_cache:
        deprecated("--no-calib-cache", "--calib-cache none")
        return None
    if args.calib_cache is None:
        return "auto"
    return None if args.calib_cache.lower() == "none" else args.calib_cache


def _qat(args, options, log) -> dict:
    from edgefashion.errors import BadInput
    from edgefashion.precision.qat_gate import quantize_qat

    if args.data is None:
        raise BadInput("--qat needs the training data: --data DATA (the folder the checkpoint was "
                       "trained on, any layout `edgefashion train` reads)")
    return quantize_qat(args.model, args.data, args.out, options, max_minutes=args.max_minutes,
                        epochs=args.qat_epochs, lr=args.qat_lr, log=log)


def _register_engine_builder() -> None:
    """The "tensorrt" gate target builds each candidate into an engine (engine/, above precision/)."""
    from edgefashion.engine import build_engine
    from edgefashion.precision import target_eval

    def build(onnx_path, engine_path):  # the gate is quantize's: the build only converts
        build_engine(onnx_path, engine_path, precision="auto", progress=False, self_test=False)

    target_eval.ENGINE_BUILDER[:] = [build]
