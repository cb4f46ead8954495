"""Do the scores mean what they say? Each softmax head's calibration (ECE of the top answer's score,
NLL) as trained and with a temperature fitted on other photos, on one split of real photos.

    python benchmarks/calibration.py runs/fp_s0/best.pt runs/fp_s1/best.pt \
        --data ../shared/data/fashion-product-small --split val --folds 5 --threads 2 \
        --json benchmarks/results/calibration_fashion_product.json

`edgefashion train` fits its temperatures on the validation split, so a figure measured on those
photos flatters them. Here every head is scored by cross-fitting: the split's rows are shuffled
(``--seed``) into ``--folds`` parts, the temperature is chosen on all parts but one the way training
chooses it (training.temperature.choose_temperature, with ``--prior``: fitted, and kept only where
its own inner cross-fit beats T = 1) and scored on the part left, each part in turn; ECE and NLL are
pooled over the parts. Beside it: the same rows at T = 1 (as trained), the
temperature fitted on the whole split (what training stores), and top-1 (which T never changes).
A checkpoint's own stored temperatures are ignored: each runs with T = 1 as its starting point.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from edgefashion.training.temperature import (PRIOR, calibration_error, choose_temperature,  # noqa: E402
                                              cross_fit_splits, log_softmax)

CUTS = (0.5, 0.7, 0.9)  # "keep answers scored at least this": what a kiosk or a catalogue filter does


def cross_fitted(z: np.ndarray, y: np.ndarray, folds: int, seed: int, prior: float) -> dict:
    """ECE / NLL pooled over held-out folds, at T = 1 and with T fitted on the other folds."""
    raw_p, fit_p, temps = np.zeros_like(z), np.zeros_like(z), []
    for rest, held in cross_fit_splits(len(y), folds, seed):
        t = choose_temperature(z[rest], y[rest], prior)
        temps.append(t)
        fit_p[held] = np.exp(log_softmax(z[held] / t))
        raw_p[held] = np.exp(log_softmax(z[held]))
    picked = np.arange(len(y))
    return {"rows": int(len(y)), "top1": float((z.argmax(1) == y).mean()),
            "mean_top_score_raw": float(raw_p.max(1).mean()), "mean_top_score": float(fit_p.max(1).mean()),
            "ece_raw": calibration_error(raw_p, y), "ece": calibration_error(fit_p, y),
            "nll_raw": float(-np.log(raw_p[picked, y]).mean()), "nll": float(-np.log(fit_p[picked, y]).mean()),
            "fold_temperatures": temps, "temperature_whole_split": choose_temperature(z, y, prior),
            "kept_above": {"raw": kept_above(raw_p, y), "scaled": kept_above(fit_p, y)}}


def kept_above(probs: np.ndarray, y: np.ndarray, cuts=CUTS) -> dict[str, dict]:
    """What a user who keeps only answers scored >= cut gets: the share kept and how many are right."""
    conf, right = probs.max(1), probs.argmax(1) == y
    return {f"{c:g}": {"kept": float((conf >= c).mean()),
                       "right": float(right[conf >= c].mean()) if (conf >= c).any() else float("nan")}
            for c in cuts}


def head_outputs(checkpoint: str, data: str, split: str, batch: int) -> dict[str, tuple]:
    """{head: (logits, labels)} of one checkpoint on ``split`` with its own preprocessing, T = 1."""
    from edgefashion.data.splits import load_split
    from edgefashion.models.checkpoint import load_checkpoint
    from edgefashion.training.evaluate import collect_model_outputs
    from edgefashion.training.temperature import softmax_heads

    model, info = load_checkpoint(checkpoint)
    schema = info["schema"]
    _, samples = load_split(data, split, schema=schema)
    outs = collect_model_outputs(model, samples, info["preprocess"], batch)
    return {h: (np.asarray(z, np.float64), y) for h, (z, y) in softmax_heads(outs, schema).items()}


def pooled(rows: list[dict]) -> dict:
    """Row-weighted means over heads (each head's figures are already pooled over its folds)."""
    n = sum(r["rows"] for r in rows)
    return {k: sum(r[k] * r["rows"] for r in rows) / n for k in ("ece_raw", "ece", "nll_raw", "nll")} | {"rows": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", help="best.pt files trained on --data")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prior", type=float, default=PRIOR, help="weight of (log T)^2 in the fit")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.folds < 2:
        ap.error(f"--folds {args.folds} must be at least 2 (one part fits, another scores)")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    models, every = [], []
    for c in args.checkpoints:
        heads = {h: cross_fitted(z, y, args.folds, args.seed, args.prior)
                 for h, (z, y) in head_outputs(c, args.data, args.split, args.batch).items()}
        every += heads.values()
        models.append({"checkpoint": c, "heads": heads, "all_heads": pooled(list(heads.values()))})
        for h, r in heads.items():
            print(f"{c} {h}: top-1 {r['top1']:.1%}  ECE {r['ece_raw']:.1%} -> {r['ece']:.1%}  NLL "
                  f"{r['nll_raw']:.3f} -> {r['nll']:.3f}  T {r['temperature_whole_split']:.2f}", flush=True)
    total = pooled(every) if every else {}
    out = write_result("calibration", {
        "benchmark": "calibration", "data": args.data, "split": args.split, "folds": args.folds,
        "seed": args.seed, "prior": args.prior, "models": models, "all": total}, args.json)
    if total:
        print(f"all heads, {total['rows']} rows: ECE {total['ece_raw']:.1%} -> {total['ece']:.1%}  NLL "
              f"{total['nll_raw']:.3f} -> {total['nll']:.3f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
