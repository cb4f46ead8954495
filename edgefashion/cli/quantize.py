"""edgefashion quantize MODEL.onnx --precision fp16|int8 -o OUT: checked against fp32 before writing."""
from __future__ import annotations

import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("quantize", help="make an fp16 / int8 (Q/DQ) ONNX, gated on accuracy vs fp32")
    p.add_argument("model", help="fp32 .onnx with edgefashion metadata (from edgefashion export)")
    p.add_argument("--precision", choices=("fp16", "int8"), default="fp16")
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
                        "preprocessing, method and images match)")
    p.add_argument("--no-calib-cache", action="store_true", help="neither read nor write a cache")
    p.add_argument("--keep-fp32", nargs="+", metavar="PATTERN",
                   help="nodes left unquantized: presets gates, first-conv, heads; op:<OpType>; a "
                        "glob or substring of node names; 'none' (int8 default: first-conv heads; with an "
                        "EfficientNet-Lite backbone also gates '*blocks.0.*' '*blocks.1.*')")
    p.add_argument("--eval", metavar="DIR_OR_LIST", dest="eval_images",
                   help="evaluation images (default: held-out calibration images)")
    p.add_argument("--eval-size", type=int, default=500, help="at most this many evaluation images")
    p.add_argument("--max-drop", type=float, default=0.5,
                   help="fail, writing nothing, when top-3 accuracy drops more (points; default 0.5); "
                        "the gate also checks top-1 agreement and per-output cosine bounds")
    p.add_argument("--min-agreement", type=float, default=0.99,
                   help="fail when fewer images keep the fp32 top-1 category (fraction; default 0.99)")
    p.add_argument("--no-gate", action="store_true", help="report every gate rule but never fail")
    p.add_argument("--report", help="report JSON (default OUT.report.json)")
    p.add_argument("--int8-format", choices=("qdq", "qoperator"), default="qdq",
                   help="qdq (default: what TensorRT builds) or qoperator (ORT CPU only)")
    p.add_argument("--int8-activations", choices=("int8", "uint8"), default="int8",
                   help="int8 (symmetric: TensorRT) or uint8 (ONNX Runtime on x86 CPUs without VNNI)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, help="ONNX Runtime threads for the evaluation")
    p.add_argument("--self-test-images", type=int, default=4,
                   help="reference images embedded for the load-time self-test")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.precision.accuracy import format_report
    from edgefashion.precision.gate import AccuracyGateError
    from edgefashion.precision.quantize import quantize_onnx

    cache = None if args.no_calib_cache else (args.calib_cache or "auto")
    try:
        result = quantize_onnx(
            args.model, args.out, args.precision, calib=args.calib, method=args.calib_method,
            calib_size=args.calib_size, calib_cache=cache, keep_fp32=args.keep_fp32,
            eval_images=args.eval_images, eval_size=args.eval_size,
            max_drop=None if args.no_gate else args.max_drop, min_agreement=args.min_agreement,
            fp16_io=args.fp16_io, fp16_rounding=args.fp16_rounding,
            batch_size=args.batch_size, threads=args.threads, report_path=args.report or "auto",
            percentile=args.percentile, quant_format=args.int8_format,
            activations=args.int8_activations,
            self_test_images=args.self_test_images, progress=not args.quiet,
            log=lambda m: print(m, file=sys.stderr))
    except AccuracyGateError as e:
        print(format_report(e.report, f"{args.precision} vs fp32 (not written)"), file=sys.stderr)
        raise
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    ev = result["eval"]
    print(format_report(result["accuracy"], f"{args.precision} vs fp32 on {ev['num_images']} images "
                                            f"({ev['source']})"))
    cal = result.get("calibration")
    if cal:
        print(f"calibration: {cal['images']} images, {result['method']}, cache "
              f"{'reused' if cal['cache_hit'] else 'written'}: {cal['cache']}")
    print(f"self-test: {result['self_test']['images']} reference images embedded, passed")
    print(f"wrote {result['output']}  (report: {result.get('report_path', 'not saved')})")
    return 0
