"""The demo (README's first command) over several seeds: test top-1, texture recall, time.

    python benchmarks/demo_seeds.py --seeds 0,1,2 --json benchmarks/results/demo_seeds_cpu.json
    python benchmarks/demo_seeds.py --collect runs/demo_s0,runs/demo_s1 --json ...   # runs made already

Each seed runs ``edgefashion demo -o OUT/demo_s<seed> --seed <seed>`` (extra demo flags after
``--``) in its own process, one after another unless ``--parallel``; then every
``demo_summary.json`` is read back. The JSON keeps, per seed: test top-1 / top-3, attribute top-3
recall per group (texture above all), the top-1 on whole photos without their boxes, the epochs,
the seconds per stage, and the process's user + sys CPU seconds; plus ``os.getloadavg()``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_info  # noqa: E402


def summarise(out: Path) -> dict:
    s = json.loads((out / "demo_summary.json").read_text())
    test = s["test"]
    recall = test.get("attribute_top3_recall", {})
    return {"out": str(out), "model": s.get("model"), "pretrained": s.get("pretrained"),
            "test_top1": test["category_top1"], "test_top3": test["category_top3"],
            "test_top1_without_boxes": s.get("test_top1_without_boxes"),
            "attribute_top3_recall": recall, "texture_top3_recall": recall.get("texture"),
            "group_top1": {g: m["top1"] for g, m in test.get("groups", {}).items() if "top1" in m},
            "group_majority": {g: m["majority_share"] for g, m in test.get("groups", {}).items()
                               if "majority_share" in m},
            "group_top1_mean": test.get("group_top1_mean"),
            "epochs": s["train"]["epochs"], "stopped": s["train"]["stopped"],
            "seconds": s["seconds"], "export_top1_agreement": s["export"].get("top1_agreement")}


def run_seeds(seeds: list[int], out: Path, extra: list[str], parallel: bool) -> list[Path]:
    cmd = [sys.executable, "-m", "edgefashion.cli.main", "demo"]
    dirs = [out / f"demo_s{seed}" for seed in seeds]
    procs = []
    for seed, d in zip(seeds, dirs):
        p = subprocess.Popen([*cmd, "-o", str(d), "--seed", str(seed), *extra])
        if not parallel:
            p.wait()
        procs.append(p)
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"demo failed: {p.args}")
    return dirs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path, default=Path("runs"))
    ap.add_argument("--parallel", action="store_true")
    ap.add_argument("--collect", help="comma-separated demo output folders to read instead of running")
    ap.add_argument("--note", default="", help="free text kept in the JSON (e.g. how the runs were made)")
    ap.add_argument("--json", type=Path, required=True)
    args, extra = ap.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    load0 = os.getloadavg()
    if args.collect:
        dirs = [Path(d) for d in args.collect.split(",")]
    else:
        dirs = run_seeds([int(s) for s in args.seeds.split(",")], args.out, extra, args.parallel)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    runs = [summarise(d) for d in dirs]
    doc = {"benchmark": "demo_seeds", "machine": machine_info(), "note": args.note,
           "demo_flags": extra, "loadavg_before": load0, "loadavg_after": os.getloadavg(),
           "children_cpu_seconds": None if args.collect else round(kids.ru_utime + kids.ru_stime, 1),
           "runs": runs, "min_test_top1": min(r["test_top1"] for r in runs)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    for r in runs:
        print(f"{r['out']}: test top-1 {100 * r['test_top1']:.1f}%, texture top-3 recall "
              f"{100 * (r['texture_top3_recall'] or 0):.1f}%, {r['epochs']} epochs, "
              f"{r['seconds']['total']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
