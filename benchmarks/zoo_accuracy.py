"""Short real training of every model in the zoo on clothing-small: accuracy, size, time.

    python benchmarks/zoo_accuracy.py DATA/clothing-small --minutes 2 --device cuda \
        --models msfan,msfan_student --json benchmarks/results/zoo_accuracy.json

Each model trains from scratch (no ImageNet weights exist here) on ``train/`` for a fixed time
budget and is evaluated on ``validation/`` (category top-1 / 3 / 5). The numbers are small-data,
short-budget figures -- a sanity level for each architecture, not the papers' accuracy.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_info  # noqa: E402

# Options per model for a short from-scratch run: batch norm where the model has the option
# (plain VGG-16 barely moves in minutes), everything else at the paper's defaults.
RUN_OPTIONS = {
    "msfan": {"batch_norm": True},
    "landmark_attention": {"batch_norm": True},
    "vsam": {"batch_norm": True, "guide": "auto"},  # landmarks stand in for pose keypoints
}


def run_one(name: str, data: Path, args) -> dict:
    import torch

    from edgefashion.data.splits import load_split
    from edgefashion.models import create_model, get_model_class
    from edgefashion.runtime.preprocess import PreprocessConfig
    from edgefashion.training import TrainConfig, Trainer
    from edgefashion.training.evaluate import evaluate_model

    schema, train = load_split(data, "train")
    _, val = load_split(data, "val", schema=schema)
    fields = get_model_class(name).config_class.__dataclass_fields__
    opts = {k: v for k, v in RUN_OPTIONS.get(name, {}).items() if k in fields}
    opts["input_size"] = args.input_size
    if args.width and "width" in fields:
        opts["width"] = args.width
    cls = get_model_class(name)
    if hasattr(cls, "schema_options"):
        opts.update(cls.schema_options(schema))
    torch.manual_seed(0)
    model = create_model(name, schema.num_categories, schema.num_attributes, **opts)
    prep = PreprocessConfig(input_size=args.input_size)
    # --schedule paper (the default here) is the step decay the committed zoo figures were made with
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      schedule=args.schedule, lr_step_epochs=args.lr_step, max_minutes=args.minutes,
                      num_workers=args.workers, device=args.device, progress=False)
    out_dir = Path(args.out) / name
    t0 = time.monotonic()
    summary = Trainer(model, schema, prep, cfg, out_dir).fit(train, val)
    best = torch.load(out_dir / "best.pt", map_location=args.device, weights_only=True)
    model.load_state_dict(best["state_dict"])
    report = evaluate_model(model, val, schema, prep, batch_size=64, device=args.device)
    return {
        "model": name, "options": opts, "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "train_images": len(train), "val_images": len(val), "epochs": summary["epochs"],
        "steps": summary["steps"], "seconds": round(time.monotonic() - t0, 1),
        "stopped": summary["stopped"],
        "val": {k: v for k, v in report.items() if not isinstance(v, list)},
        "history": [{"epoch": h["epoch"], "loss": h["loss"],
                     "top1": h.get("val", {}).get("category_top1")} for h in summary["history"]],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="clothing-small root (train/ and validation/)")
    ap.add_argument("--models", help="comma-separated (default: every registered model)")
    ap.add_argument("--minutes", type=float, default=2.0, help="training budget per model")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-step", type=int, default=8)
    ap.add_argument("--schedule", choices=["paper", "cosine"], default="paper",
                    help="paper: lr / 10 every --lr-step epochs (as committed); cosine: the scratch "
                    "recipe's warm-up + cosine (benchmarks/pretrained_accuracy.py runs the recipes)")
    ap.add_argument("--input-size", type=int, default=128)
    ap.add_argument("--width", type=float, help="channel multiplier for every model that has one")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default="runs/zoo")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)

    from edgefashion.models import list_models

    names = args.models.split(",") if args.models else list_models()
    results = []
    for name in names:
        print(f"== {name}", flush=True)
        results.append(run_one(name, args.data, args))
        print(json.dumps({k: results[-1][k] for k in ("model", "params_m", "epochs", "val")}), flush=True)
        doc = {"benchmark": "zoo_accuracy", "machine": machine_info(),
               "settings": {k: str(v) for k, v in vars(args).items()}, "results": results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")  # after each model: partial runs count
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
