"""edgefashion compare A B [C ...] --images DIR: any model files on the same images; A is the reference.

    edgefashion compare model.onnx model.onnx@openvino:bf16 model.int8.onnx@openvino --images val/
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from edgefashion.cli.common import add_quiet_flag, max_top1_drop_of, quiet_of


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare model files (.pt, .onnx, quantized .onnx, .engine) "
                                       "on the same images; the first is the reference")
    p.add_argument("models", nargs="+", help="two or more model files; PATH@BACKEND runs PATH on that "
                                             "backend, e.g. model.onnx@openvino:bf16 (a runtime "
                                             "precision hint) or model.int8.onnx@onnxruntime")
    p.add_argument("--images", required=True, metavar="DIR_OR_LIST",
                   help="images: folder (labels from category folder names), list file or glob")
    p.add_argument("--limit", type=int, help="at most this many images (seeded sample)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, help="inference threads (ONNX Runtime, OpenVINO, PyTorch)")
    p.add_argument("--device", help="cpu / cuda[:N] for backends that take one")
    p.add_argument("--json", metavar="OUT", help="also write the report as JSON")
    p.add_argument("--details", action="store_true", help="print each model's full report")
    p.add_argument("--max-drop", type=float, default=0.5,
                   help="gate: points of top-3 accuracy a model may lose vs the reference (default 0.5)")
    p.add_argument("--min-agreement", type=float, default=0.995,
                   help="gate: fraction of images that must keep the reference's top-1 (default 0.995)")
    p.add_argument("--max-top1-drop", type=float, default=0.3, metavar="POINTS",
                   help="gate: points of top-1 accuracy a model may lose on labelled images "
                        "(default 0.3; -1: no rule)")
    p.add_argument("--no-gate", action="store_true",
                   help="report the gate's rules but exit 0 even when one breaks")
    add_quiet_flag(p, "no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.precision.compare import compare_models, format_compare

    report = compare_models(args.models, args.images, batch_size=args.batch_size,
                            threads=args.threads, limit=args.limit, device=args.device,
                            progress=not quiet_of(args),
                            max_drop=None if args.no_gate else args.max_drop,
                            min_agreement=args.min_agreement,
                            max_top1_drop=max_top1_drop_of(args))
    print(format_compare(report, details=args.details))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    if not report["passed"]:
        print("error: a model fails the accuracy gate against the reference (see the gate column; "
              "--details for every rule, --no-gate to report only)", file=sys.stderr)
        return 1
    return 0
