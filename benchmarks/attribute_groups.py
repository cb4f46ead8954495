"""Per-group attribute accuracy of `edgefashion train` beside the frozen linear probe and the
majority answer, on one dataset's validation split, over seeds.

    python benchmarks/attribute_groups.py ../shared/data/deepfashion-fine-attr --seeds 0,1,2 \\
        --minutes 10 --out runs/attr_fa --json benchmarks/results/attributes_fine_attr.json
    python benchmarks/attribute_groups.py DATA --seeds 0 --label paper -- --attribute-loss paper

Each seed runs ``edgefashion train DATA --model msfan_lite --pretrained efficientnet-lite0
--max-minutes M --seed S`` (extra train flags after ``--``) in its own process, one after another;
the probe is ``edgefashion baseline DATA`` (run once, or read with ``--probe report.json``). The
JSON keeps, per seed: best.pt's validation report (per group top-1, macro-F1, majority share;
category top-1), the heads-on-frozen-features epoch (LP-FT's first step) when there is one, the
epochs, wall and CPU seconds; and the probe's report; plus the machine and the load.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_info  # noqa: E402

CLI = [sys.executable, "-m", "edgefashion.cli.main"]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def train(data: str, out: Path, seed: int, minutes: float, extra: list[str]) -> dict:
    cmd = [*CLI, "train", data, "--model", "msfan_lite", "--pretrained", "efficientnet-lite0",
           "--max-minutes", str(minutes), "--seed", str(seed), "--quiet", "-o", str(out), *extra]
    t0, c0 = time.monotonic(), cpu_seconds()
    subprocess.run(cmd, check=True)
    s = json.loads((out / "train_summary.json").read_text())
    first = s["history"][0] if s["history"] and s["history"][0].get("epoch") == 0 else None
    tuned = [r for r in s["history"] if r.get("epoch") and "phase" not in r and "val" in r]
    wise = {str(r["wise_ft_alpha"]): r["val"] for r in s["history"] if r.get("phase") == "WiSE-FT"}
    return {"seed": seed, "command": " ".join(cmd[2:]), "wall_s": round(time.monotonic() - t0, 1),
            "cpu_s": round(cpu_seconds() - c0, 1), "epochs": s["epochs"], "stopped": s["stopped"],
            "best_epoch": s.get("best_epoch"), "val": s["best_val"],
            "heads_only_val": first.get("val") if first else None,
            "last_epoch_val": tuned[-1]["val"] if tuned else None,
            "wise_ft_val": wise, "best_wise_ft_alpha": s.get("best_wise_ft_alpha"),
            "tuned_thresholds": s.get("tuned_thresholds")}


def probe(data: str, out: Path) -> dict:
    subprocess.run([*CLI, "baseline", data, "-o", str(out)], check=True)
    return json.loads((out / "report.json").read_text())


def group_top1(report: dict) -> dict[str, float]:
    return {g: m["top1"] for g, m in report.get("groups", {}).items() if m.get("kind") == "exclusive"}


def _pick(rep: dict | None, key: str) -> float:
    if rep is None:
        return float("nan")
    if key == "category":
        return float(rep.get("category_top1", np.nan))
    if key == "mean of groups":
        return float(rep.get("group_top1_mean", np.nan))
    return float(group_top1(rep).get(key, np.nan))


def summarise(runs: list[dict], probe_rep: dict | None) -> dict:
    """Per row (category when the data has categories, each exclusive group, their mean): the
    seeds' top-1, mean, sd, the heads-only epoch's mean, the last fine-tuned epoch's mean and each
    WiSE-FT point's (no selection in those three), the probe's and the majority share."""
    first = runs[0]["val"]
    names = list(group_top1(first))
    with_cat = first.get("num_categories", 1) > 1
    out = {}
    for k in (["category"] if with_cat else []) + names + ["mean of groups"]:
        vals = np.array([_pick(r["val"], k) for r in runs])
        heads = np.array([_pick(r["heads_only_val"], k) for r in runs])
        last = np.array([_pick(r.get("last_epoch_val"), k) for r in runs])
        alphas = sorted({a for r in runs for a in r.get("wise_ft_val", {})}, key=float)
        wise = {a: float(np.mean([_pick(r.get("wise_ft_val", {}).get(a), k) for r in runs])) for a in alphas}
        maj = first["groups"][k]["majority_share"] if k in names else first.get(
            "group_majority_mean", np.nan) if k == "mean of groups" else np.nan
        out[k] = {"edgefashion": vals.tolist(), "mean": float(vals.mean()),
                  "sd": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                  "heads_only_mean": None if np.isnan(heads).all() else float(np.nanmean(heads)),
                  "last_epoch_mean": None if np.isnan(last).all() else float(np.nanmean(last)),
                  "wise_ft_means": wise,
                  "probe": _pick(probe_rep, k), "majority": float(maj)}
    return out


def format_table(summary: dict) -> str:
    lines = [f"{'% top-1':<18} {'edgefashion':>14}  {'heads only':>10}  {'probe':>6}  {'majority':>8}"]
    for k, s in summary.items():
        heads = "" if s["heads_only_mean"] is None else f"{100 * s['heads_only_mean']:.1f}"
        lines.append(f"{k:<18} {100 * s['mean']:7.1f} ± {100 * s['sd']:4.1f}  {heads:>10}  "
                     f"{100 * s['probe']:6.1f}  {100 * s['majority']:8.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=Path("runs/attribute_groups"))
    ap.add_argument("--label", default="default", help="the variant's name (extra train flags after --)")
    ap.add_argument("--probe", type=Path, help="a baseline report.json to read instead of running it")
    ap.add_argument("--collect", action="store_true", help="read the runs under --out, train nothing")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    for seed in seeds:
        out = args.out / f"{args.label}_s{seed}"
        if args.collect:
            runs.append(json.loads((out / "run.json").read_text()))
            continue
        runs.append(train(args.data, out, seed, args.minutes, extra))
        (out / "run.json").write_text(json.dumps(runs[-1], indent=2) + "\n")
    probe_rep = json.loads(args.probe.read_text()) if args.probe else probe(args.data, args.out / "probe")
    summary = summarise(runs, probe_rep)
    print(format_table(summary))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {"benchmark": "attribute_groups", "data": args.data, "label": args.label,
                  "train_flags": extra, "minutes": args.minutes, "seeds": seeds, "summary": summary,
                  "runs": runs, "probe": probe_rep, "loadavg": os.getloadavg(), **machine_info()}
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
