"""How high could a teacher get? Category top-1 of trained checkpoints and of every mean-softmax
ensemble of them, on one split of real photos.

    python benchmarks/ensemble_ceiling.py runs/student_s1/best.pt runs/teacher_s1/best.pt ... \
        --data ../shared/data/clothing-small --split val --threads 2 \
        --json benchmarks/results/ensemble_ceiling_clothing.json

A distilled student rarely ends above its teacher, so the best ensemble of the models a budget can
train bounds what distillation from them can give. Each checkpoint runs with its own preprocessing
(no augmentation, no flip). Also written: the largest ensemble's mistakes as (true, answered) counts
and per image (path, true, answered, its probability), to look at by eye.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from edgefashion.training.metrics import topk_accuracy as top_k  # noqa: E402


def category_probs(checkpoint: str, samples, schema, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """-> (softmax of the category logits (N, C), true categories (N,)) of one checkpoint; BadInput
    when its categories are not the data's, in the data's order."""
    import torch

    from edgefashion.errors import BadInput
    from edgefashion.models.checkpoint import load_checkpoint
    from edgefashion.training.evaluate import collect_model_outputs

    model, info = load_checkpoint(checkpoint)
    if list(info["schema"].category_names) != list(schema.category_names):
        raise BadInput(f"{checkpoint} answers {list(info['schema'].category_names)}, the data has "
                       f"{list(schema.category_names)}: ensembles need the same categories in one order")
    outs = collect_model_outputs(model, samples, info["preprocess"], batch)
    return torch.from_numpy(outs["category_logits"]).softmax(1).numpy(), outs["categories"]


def made_by(checkpoint: str) -> list[str] | None:
    """The command of the run that wrote the checkpoint, from the command.json benchmarks/distill.py
    leaves in its run folder. A teacher's best.pt sits one folder down, in teacher/: the command is
    the distillation run's, which trained that teacher first."""
    import json

    here = Path(checkpoint).resolve().parent
    for folder in (here, here.parent):
        if (folder / "command.json").is_file():
            return json.loads((folder / "command.json").read_text()).get("command")
    return None


def ensembles(probs: dict[str, np.ndarray], y: np.ndarray) -> list[dict]:
    """Every combination of two or more checkpoints, best top-1 first."""
    rows = []
    for k in range(2, len(probs) + 1):
        for combo in itertools.combinations(probs, k):
            p = sum(probs[c] for c in combo) / k
            rows.append({"members": list(combo), "top1": top_k(p, y, 1), "top3": top_k(p, y, 3)})
    return sorted(rows, key=lambda r: -r["top1"])


def mistakes(p: np.ndarray, y: np.ndarray, samples, names: list[str]) -> dict:
    wrong = np.nonzero(p.argmax(1) != y)[0]
    pairs = Counter(f"{names[y[i]]} -> {names[p[i].argmax()]}" for i in wrong)
    return {"count": int(len(wrong)), "pairs": dict(pairs.most_common()),
            "images": [{"path": str(samples[i].path), "true": names[y[i]],
                        "answered": names[p[i].argmax()], "prob": round(float(p[i].max()), 3)}
                       for i in wrong]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", help="best.pt files trained on --data's schema")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--json")
    args = ap.parse_args()

    import torch

    from edgefashion.data.splits import load_split

    if args.threads:
        torch.set_num_threads(args.threads)
    schema, samples = load_split(args.data, args.split)
    names = [c.name for c in schema.categories]
    probs, y = {}, None
    singles = []
    for c in args.checkpoints:
        probs[c], y = category_probs(c, samples, schema, args.batch)
        singles.append({"checkpoint": c, "made_by": made_by(c), "top1": top_k(probs[c], y, 1),
                        "top3": top_k(probs[c], y, 3)})
        print(f"{c}: top-1 {singles[-1]['top1']:.1%}  top-3 {singles[-1]['top3']:.1%}", flush=True)
    combos = ensembles(probs, y)
    for r in combos[:5]:
        print(f"ensemble of {len(r['members'])}: top-1 {r['top1']:.1%}  top-3 {r['top3']:.1%}  "
              f"{', '.join(r['members'])}")
    whole = sum(probs.values()) / len(probs)
    majority = float(np.bincount(y).max() / len(y))
    out = write_result("ensemble_ceiling", {
        "benchmark": "ensemble_ceiling", "data": args.data, "split": args.split,
        "images": len(samples), "majority": majority, "models": singles, "ensembles": combos,
        "all_mistakes": mistakes(whole, y, samples, names)}, args.json)
    print(f"majority answer {majority:.1%}; all {len(probs)}: top-1 {top_k(whole, y, 1):.1%}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
