"""Real-photo accuracy of pretrained edge models, trained with the fine-tuning recipe on the CPU.

    nice -n 5 python benchmarks/pretrained_accuracy.py ../shared/data/clothing-small \
        --model msfan_lite --pretrained efficientnet-lite0 --input-size 192 --minutes 30 \
        --json benchmarks/results/pretrained_clothing_msfan_lite.json --copy-best runs/msfan_lite_best.pt

One run = `edgefashion train DATA --model M --pretrained SPEC` (the same recipe, model and
preprocessing code), then the best-on-validation checkpoint evaluated on the validation split with
every metric the data has: category top-1 / 3 / 5, attribute top-k recall and Jaccard accuracy
per group, landmark normalized distance. ``--pretrained none`` trains from scratch (the scratch
recipe) for the figures beside them. The JSON records the machine, the wall time, the process's
CPU time, the epochs, the lr per epoch and ``os.getloadavg()`` before and after: timings on a
shared machine are only comparable with the load next to them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_info  # noqa: E402


def run(args) -> dict:
    import torch

    from edgefashion.config_dict import parse_options
    from edgefashion.data.splits import load_split
    from edgefashion.models.build import build_model, model_options, with_schema_options
    from edgefashion.training.recipe import recipe_summary
    from edgefashion.models import load_checkpoint
    from edgefashion.training import Trainer
    from edgefashion.training.evaluate import evaluate_model
    from edgefashion.training.recipe import recipe_config

    schema, train = load_split(args.data, "train", args.layout)
    _, val = load_split(args.data, "val", args.layout, schema=schema)
    pretrained = None if args.pretrained in (None, "none") else args.pretrained
    cfg = recipe_config(bool(pretrained), args.schedule, epochs=args.epochs,
                        batch_size=args.batch_size, lr=args.lr, max_minutes=args.minutes,
                        ema=args.ema, augment=args.augment, label_smoothing=args.label_smoothing,
                        backbone_lr_mult=args.backbone_lr_mult, layer_decay=args.layer_decay,
                        freeze_layers=args.freeze_layers, threads=args.threads,
                        seed=args.seed, progress=False)
    opts = model_options(args.model, {"input_size": args.input_size, "width": args.width},
                         parse_options(args.model_opt))
    opts = with_schema_options(args.model, schema, opts)
    torch.manual_seed(args.seed)
    model, prep = build_model(args.model, schema, opts, args.input_size, pretrained)
    print(f"{args.model} ({pretrained or 'from scratch'}): {recipe_summary(cfg)}", flush=True)
    load0, t0, cpu0 = os.getloadavg(), time.monotonic(), time.process_time()
    summary = Trainer(model, schema, prep, cfg, args.out).fit(train, val)
    wall, cpu, load1 = time.monotonic() - t0, time.process_time() - cpu0, os.getloadavg()
    best, _ = load_checkpoint(Path(args.out) / "best.pt")
    report = evaluate_model(best, val, schema, prep, batch_size=32)
    if args.copy_best:
        Path(args.copy_best).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(args.out) / "best.pt", args.copy_best)
    return {
        "model": args.model, "pretrained": pretrained, "options": {k: v for k, v in opts.items()},
        "weights": getattr(model, "weights_info", None), "preprocess": prep.to_dict(),
        "recipe": cfg.to_dict(), "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "train_images": len(train), "val_images": len(val), "epochs": summary["epochs"],
        "steps": summary["steps"], "stopped": summary["stopped"], "wall_seconds": round(wall, 1),
        "process_cpu_seconds": round(cpu, 1), "loadavg_before": load0, "loadavg_after": load1,
        "val": report,
        "history": [{"epoch": h["epoch"], "lr": h["lr"], "loss": h["loss"], "seconds": h["seconds"],
                     "top1": h.get("val", {}).get("category_top1")} for h in summary["history"]],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--layout", default="auto")
    ap.add_argument("--model", default="msfan_lite")
    ap.add_argument("--pretrained", default="efficientnet-lite0", help="a weights spec, or none")
    ap.add_argument("--model-opt", action="append", metavar="KEY=VALUE")
    ap.add_argument("--input-size", type=int, default=192)
    ap.add_argument("--width", type=float)
    ap.add_argument("--minutes", type=float, default=30.0, help="training budget (wall clock)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--schedule", choices=["cosine", "paper"])
    ap.add_argument("--lr", type=float)
    ap.add_argument("--backbone-lr-mult", type=float)
    ap.add_argument("--layer-decay", type=float)
    ap.add_argument("--freeze-layers", type=int)
    ap.add_argument("--label-smoothing", type=float)
    ap.add_argument("--augment", choices=["none", "light", "strong"])
    ap.add_argument("--ema", type=float, nargs="?", const=0.998)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/pretrained")
    ap.add_argument("--copy-best", help="also copy best.pt here")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)
    result = run(args)
    doc = {"benchmark": "pretrained_accuracy", "machine": machine_info(),
           "command": " ".join([Path(sys.argv[0]).name] + (argv or sys.argv[1:])),
           "settings": {k: str(v) for k, v in vars(args).items()}, "result": result}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    val = result["val"]
    print(json.dumps({"top1": val.get("category_top1"), "top3": val.get("category_top3"),
                      "epochs": result["epochs"], "wall_s": result["wall_seconds"],
                      "cpu_s": result["process_cpu_seconds"], "load": result["loadavg_after"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
