"""edgefashion export CKPT -o model.onnx: ONNX with metadata and a numerical check vs PyTorch."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX (checked against PyTorch)")
    p.add_argument("checkpoint")
    p.add_argument("-o", "--out", help="output .onnx (default: beside the checkpoint)")
    p.add_argument("--check-images", help="real images (folder, list file or glob) for the check")
    p.add_argument("--num-check", type=int, default=16, help="how many check images to use")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--tolerance", type=float, default=1e-3, help="max abs error allowed (x logit scale)")
    p.add_argument("--no-simplify", action="store_true", help="skip onnxslim")
    p.add_argument("--custom-ops", action="store_true",
                   help="emit edgefashion::ChannelAttention / SpatialGate nodes for the TensorRT plugin")
    p.add_argument("--tta", choices=["none", "flip"], default="none",
                   help="flip: average the logits of the image and its mirror inside the graph "
                   "(a batch of 2N: about twice the latency)")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.models import load_checkpoint

    model, info = load_checkpoint(args.checkpoint)
    out = Path(args.out) if args.out else Path(args.checkpoint).with_suffix(".onnx")
    inputs, real, paths = None, False, None
    if args.check_images:
        from edgefashion.data import read_image_list

        paths = read_image_list(args.check_images)[: args.num_check]
        inputs, real = check_inputs_from_images(paths, info["preprocess"]), True
    else:
        print("note: no --check-images given; checking ONNX vs PyTorch on random inputs")
    rep = export_onnx(model, info["schema"], info["preprocess"], out, check_inputs=inputs,
                      real_images=real, opset=args.opset, simplify=not args.no_simplify,
                      tolerance=args.tolerance, custom_ops=args.custom_ops,
                      self_test_images=paths if args.check_images else None, tta=args.tta)
    if not rep.checked:
        print(f"wrote {out}  (opset {rep.opset}; with edgefashion custom-op nodes for the TensorRT "
              "plugin; ONNX Runtime cannot run them, so the numerical check happens at engine build)")
        return 0
    worst = max(rep.max_abs.values())
    tta = "; flip TTA in the graph" if args.tta == "flip" else ""
    print(f"wrote {out}  (opset {rep.opset}{tta}; vs PyTorch on {rep.num_images} "
          f"{'real' if real else 'random'} images: max abs error {worst:.2e}, "
          f"top-1 agreement {rep.top1_agreement:.3f})")
    return 0
