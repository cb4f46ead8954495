"""edgefashion export-openvino model.onnx [-o model.xml]: OpenVINO IR with the edgefashion metadata.

The IR (``.xml`` + ``.bin``) carries the metadata (labels, preprocessing, precision, self-test set) in
its rt_info, so ``Predictor("model.xml")`` serves it like the ONNX; an int8 Q/DQ ONNX stays int8.
"""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("export-openvino", help="convert an .onnx (fp32 or int8 Q/DQ) to OpenVINO IR "
                                               "(.xml + .bin) with its metadata")
    p.add_argument("onnx", help="an .onnx from `edgefashion export` or `edgefashion quantize`")
    p.add_argument("-o", "--out", help="output .xml (default: beside the ONNX)")
    p.add_argument("--compress-fp16", action="store_true",
                   help="store fp32 weights as fp16 (half the file; computed in the runtime precision)")
    p.add_argument("--check", action="store_true", help="load the IR and run its self-test")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.runtime.backends.openvino import save_ir

    xml = save_ir(args.onnx, args.out, compress_to_fp16=args.compress_fp16)
    print(f"wrote {xml} and {Path(xml).with_suffix('.bin')}")
    if args.check:
        from edgefashion.runtime.predictor import Predictor

        report = Predictor(xml, backend="openvino", self_test=True).self_test_report
        print(f"self-test passed on {report['images']} reference images ({report['precision']})")
    return 0
