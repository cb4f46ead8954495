"""edgefashion demo: the whole pipeline on the CPU in a few minutes.

synthesise a DeepFashion-C style dataset -> fine-tune the edge MSFAN (``msfan_lite``: MSFAN's
attention on EfficientNet-Lite0, ImageNet weights from the installed ``efficientnet-lite0`` package,
nothing downloaded) with the fine-tuning recipe -> evaluate -> export to ONNX (checked against
PyTorch) -> predict held-out images with the ONNX Runtime Predictor, with and without their boxes.
"""
from __future__ import annotations

import json
import time
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="synthesise data, train, evaluate, export and predict (CPU)")
    p.add_argument("-o", "--out", default="demo-out", help="output folder")
    p.add_argument("--minutes", type=float, default=3.0, help="training time budget")
    p.add_argument("--images-per-category", type=int, default=120)
    p.add_argument("--model", default="msfan_lite")
    p.add_argument("--pretrained", default="efficientnet-lite0",
                   help="backbone weights (an installed package or a file); 'none': from scratch")
    p.add_argument("--input-size", type=int, default=96)
    p.add_argument("--width", type=float, help="channel multiplier; the pretrained weights exist "
                   "only at 1.0, so another width trains from scratch (quick smoke runs)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.cli.evaluate import format_report
    from edgefashion.cli.predict import render, save_visualisations
    from edgefashion.models.build import build_model
    from edgefashion.training.recipe import recipe_summary
    from edgefashion.data import generate_synthetic, read_deepfashion
    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.models import load_checkpoint
    from edgefashion.runtime.predictor import Predictor
    from edgefashion.training import Trainer
    from edgefashion.training.evaluate import evaluate_model, save_report
    from edgefashion.training.recipe import recipe_config

    out, t0, times = Path(args.out), time.monotonic(), {}
    _step("1/5 synthesising a DeepFashion-C style dataset")
    root = generate_synthetic(out / "data", images_per_category=args.images_per_category,
                              image_size=max(96, 2 * args.input_size), seed=args.seed)
    schema, train = read_deepfashion(root, split="train")
    _, val = read_deepfashion(root, split="val")
    _, test = read_deepfashion(root, split="test")
    times["data"] = time.monotonic() - t0
    print(f"   {root}: {len(train)} train / {len(val)} val / {len(test)} test images, "
          f"{schema.num_categories} categories, {schema.num_attributes} attributes "
          f"({', '.join(schema.groups)})")

    pretrained = None if args.pretrained in ("", "none") else args.pretrained
    opts = {"input_size": args.input_size}
    if args.width is not None and args.width != 1.0:
        opts["width"], pretrained = args.width, None
        print(f"   note: width {args.width} has no pretrained weights; training from scratch")
    _step(f"2/5 fine-tuning {args.model} ({pretrained or 'from scratch'}, {args.input_size}px) "
          f"for up to {args.epochs} epochs / {args.minutes} min")
    model, preprocess = build_model(args.model, schema, opts, args.input_size, pretrained,
                                    seed=args.seed)
    cfg = recipe_config(bool(pretrained), attributes=schema.num_attributes > 0,
                        epochs=args.epochs, batch_size=32,
                        max_minutes=args.minutes, threads=args.threads, seed=args.seed)
    print(f"   recipe: {recipe_summary(cfg)}")
    t = time.monotonic()
    summary = Trainer(model, schema, preprocess, cfg, out / "train").fit(train, val)
    times["train"] = time.monotonic() - t

    _step("3/5 evaluating the best checkpoint on the held-out test split")
    t = time.monotonic()
    model, info = load_checkpoint(summary["checkpoint"])
    schema = info["schema"]  # as trained: its softmax groups and tuned thresholds
    report = evaluate_model(model, test, schema, preprocess, batch_size=64)
    paths = save_report(report, out / "eval")
    print(format_report(report))
    times["evaluate"] = time.monotonic() - t

    _step("4/5 exporting to ONNX (checked against PyTorch on test images)")
    t = time.monotonic()
    check = check_inputs_from_images([s.path for s in test[:16]], preprocess)
    onnx_path = out / f"{args.model}.onnx"
    rep = export_onnx(model, schema, preprocess, onnx_path, check_inputs=check, real_images=True,
                      self_test_images=[s.path for s in test[:4]])
    print(f"   wrote {onnx_path}: max abs error vs PyTorch {max(rep.max_abs.values()):.2e}, "
          f"top-1 agreement {rep.top1_agreement:.3f}")
    times["export"] = time.monotonic() - t

    _step("5/5 predicting held-out images (cropped to their boxes) with the ONNX Runtime Predictor")
    t = time.monotonic()
    predictor = Predictor(onnx_path)
    shown = test[:: max(1, len(test) // 8)][:8]
    # the garment boxes, as in training (DeepFashion-C crops every image to its box)
    preds = predictor([str(s.path) for s in shown], bboxes=[s.bbox for s in shown])
    rows = render(preds, "table", 3).splitlines()
    truth = [schema.category_names[s.category] for s in shown]
    print("\n".join([rows[0] + "  truth", rows[1] + "  -----"]
                    + [r + "  " + tr for r, tr in zip(rows[2:], truth)]))
    n = save_visualisations(preds, out / "vis", predictor.preprocess_config)
    # the whole photo, no box: what Predictor("photo.jpg") sees (random crops in training teach it)
    nobox = predictor([str(s.path) for s in test])
    nobox_top1 = sum(p.ok and p.category.index == s.category
                     for p, s in zip(nobox, test)) / len(test)
    print(f"   without boxes (the whole photo): test top-1 {100 * nobox_top1:.1f}%")
    times["predict"] = time.monotonic() - t
    times["total"] = time.monotonic() - t0
    result = {"test": report, "test_top1_without_boxes": nobox_top1,
              "train": {k: summary[k] for k in ("epochs", "steps", "stopped", "seconds")},
              "model": args.model, "pretrained": pretrained, "recipe": cfg.to_dict(),
              "export": rep.to_dict(), "seconds": times}
    (out / "demo_summary.json").write_text(json.dumps(result, indent=2) + "\n")
    chance = 1.0 / schema.num_categories
    print(f"\ndone in {times['total']:.0f} s. Test category top-1 {100 * report['category_top1']:.1f}% "
          f"(chance {100 * chance:.1f}%). Wrote {paths['json']}, {paths['png']}, {onnx_path}, "
          f"{n} annotated images in {out / 'vis'}, {out / 'demo_summary.json'}")
    return 0


def _step(msg: str) -> None:
    print(f"\n== {msg}", flush=True)
