"""edgefashion demo: the whole pipeline on the CPU in a few minutes.

synthesise a DeepFashion-C style dataset -> train a small MSFAN -> evaluate -> export to ONNX
(checked against PyTorch) -> predict held-out images with the ONNX Runtime Predictor.
"""
from __future__ import annotations

import json
import time
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="synthesise data, train, evaluate, export and predict (CPU)")
    p.add_argument("-o", "--out", default="demo-out", help="output folder")
    p.add_argument("--minutes", type=float, default=5.0, help="training time budget")
    p.add_argument("--images-per-category", type=int, default=120)
    p.add_argument("--input-size", type=int, default=64)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.cli.evaluate import format_report
    from edgefashion.cli.predict import render, save_visualisations
    from edgefashion.data import generate_synthetic, read_deepfashion
    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.models import create_model, load_checkpoint
    from edgefashion.runtime.predictor import Predictor
    from edgefashion.runtime.preprocess import PreprocessConfig
    from edgefashion.training import TrainConfig, Trainer
    from edgefashion.training.evaluate import evaluate_model, save_report

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

    _step(f"2/5 training MSFAN (width {args.width}, {args.input_size}px) for up to {args.minutes} min")
    preprocess = PreprocessConfig(input_size=args.input_size)
    model = create_model("msfan", schema.num_categories, schema.num_attributes, width=args.width,
                         input_size=args.input_size, batch_norm=True)
    # From scratch (no ImageNet weights): a larger lr than the paper's fine-tuning 1e-4, and the
    # decay late, because a VGG from scratch only starts to separate the classes after ~200 steps.
    cfg = TrainConfig(epochs=args.epochs, batch_size=16, lr=1e-3,
                      lr_step_epochs=max(1, (3 * args.epochs) // 4), max_minutes=args.minutes,
                      threads=args.threads, seed=args.seed)
    t = time.monotonic()
    summary = Trainer(model, schema, preprocess, cfg, out / "train").fit(train, val)
    times["train"] = time.monotonic() - t

    _step("3/5 evaluating the best checkpoint on the held-out test split")
    t = time.monotonic()
    model, info = load_checkpoint(summary["checkpoint"])
    report = evaluate_model(model, test, schema, preprocess, batch_size=64)
    paths = save_report(report, out / "eval")
    print(format_report(report))
    times["evaluate"] = time.monotonic() - t

    _step("4/5 exporting to ONNX (checked against PyTorch on test images)")
    t = time.monotonic()
    check = check_inputs_from_images([s.path for s in test[:16]], preprocess)
    onnx_path = out / "msfan.onnx"
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
    times["predict"] = time.monotonic() - t
    times["total"] = time.monotonic() - t0
    result = {"test": report, "train": {k: summary[k] for k in ("epochs", "steps", "stopped", "seconds")},
              "export": rep.to_dict(), "seconds": times}
    (out / "demo_summary.json").write_text(json.dumps(result, indent=2) + "\n")
    chance = 1.0 / schema.num_categories
    print(f"\ndone in {times['total']:.0f} s. Test category top-1 {100 * report['category_top1']:.1f}% "
          f"(chance {100 * chance:.1f}%). Wrote {paths['json']}, {paths['png']}, {onnx_path}, "
          f"{n} annotated images in {out / 'vis'}, {out / 'demo_summary.json'}")
    return 0


def _step(msg: str) -> None:
    print(f"\n== {msg}", flush=True)
