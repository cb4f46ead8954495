"""Teacher-student on real photos: student alone vs teacher vs distilled student vs distilled + flip TTA
(and, with ``--configs ... semi``, the semi-supervised student taught by the same kind of teacher).

    python benchmarks/distill.py ../shared/data/clothing-small --teacher efficientnet-lite2 \\
        --minutes 28 --seeds 0 1 2 --runs runs/distill --json benchmarks/results/distill_clothing.json

``--with earlier.json`` joins the runs of an earlier result file (another seed, another session) to
the summary, so seeds measured in different sessions make one table.

For each seed, two `edgefashion train` commands with the same budget (run one at a time, each
printed and recorded):

- "student":   train DATA --model msfan_lite --pretrained efficientnet-lite0 --max-minutes M
- "distilled": the same + --teacher SPEC (the teacher is fine-tuned inside the same M minutes)
- "semi":      the same + --teacher SPEC --semi-supervised --unlabelled DIR (the teacher pseudo-labels
  DIR's photos for the student; e.g. ``--extra "--max-train 300" --unlabelled DATA/train``: a tenth
  of the training photos labelled, all of them unlabelled)

A run folder that already holds a train_summary.json written by the identical command (its
command.json) is reused, not retrained. Each best.pt is evaluated on the validation split (category
top-1 / top-3), plain and with flip TTA (models/tta.py: the logits of the image and its mirror
averaged); the teacher's own figures come from the distilled run. Latency: every student exported
to ONNX, plain and with ``--tta flip``, batch 1 on a preprocessed real photo, ONNX Runtime fp32 and
the OpenVINO bf16 hint measured in one loop (median of --iters calls). Timings on a loaded
machine mean nothing: the load average before and after each run is recorded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402

STUDENT = ["--model", "msfan_lite", "--pretrained", "efficientnet-lite0"]
# run in a fresh process per variant: argv = ONNX file, target, saved input (.npy), calls -> p50 ms
LATENCY_SNIPPET = ("import sys, numpy as np; from edgefashion.precision.target_eval import interleaved_p50_ms; "
                   "print(interleaved_p50_ms({'f': sys.argv[1]}, sys.argv[2], np.load(sys.argv[3]), "
                   "iters=int(sys.argv[4]), rounds=1)['f'])")


def train_command(data: Path, config: str, seed: int, minutes: float, teacher: str, out: Path,
                  extra: list[str], unlabelled: Path | None = None) -> list[str]:
    cmd = ["edgefashion", "train", str(data), *STUDENT, "--max-minutes", f"{minutes:g}",
           "--seed", str(seed), "--quiet", "-o", str(out), *extra]
    if config == "semi":
        return cmd + ["--teacher", teacher, "--semi-supervised", "--unlabelled", str(unlabelled)]
    return cmd + (["--teacher", teacher] if config == "distilled" else [])


def run_training(cmd: list[str], out: Path) -> dict:
    """Run ``cmd`` unless ``out`` already holds its summary; -> the summary + load / wall time."""
    stamp = out / "command.json"
    if (out / "train_summary.json").is_file() and stamp.is_file() \
            and json.loads(stamp.read_text())["command"] == cmd:
        print(f"reusing {out} ({' '.join(cmd)})", flush=True)
        return {**json.loads(stamp.read_text()), "reused": True}
    out.mkdir(parents=True, exist_ok=True)
    print("$ " + " ".join(cmd), flush=True)
    load0, t0 = os.getloadavg(), time.monotonic()
    exe = [str(Path(sys.executable).with_name("edgefashion"))] + cmd[1:]
    with open(out / "train.log", "w") as log:
        subprocess.run(exe, check=True, stdout=log, stderr=subprocess.STDOUT)
    record = {"command": cmd, "wall_seconds": round(time.monotonic() - t0, 1),
              "loadavg_before": load0, "loadavg_after": os.getloadavg()}
    stamp.write_text(json.dumps(record, indent=2) + "\n")
    return {**record, "reused": False}


def evaluate(ckpt: Path, val, schema) -> dict:
    from edgefashion.models import load_checkpoint
    from edgefashion.models.tta import FlipTTA
    from edgefashion.training.evaluate import evaluate_model

    model, info = load_checkpoint(ckpt)
    out = {}
    for name, m in (("plain", model), ("flip_tta", FlipTTA(model))):
        rep = evaluate_model(m, val, schema, info["preprocess"], batch_size=32)
        out[name] = {"top1": rep["category_top1"], "top3": rep["category_top3"]}
    return out


def latency(ckpt: Path, photo: Path, iters: int) -> dict:
    """Batch-1 p50 (ms) of the exported student, plain and flip TTA, ORT fp32 and OV bf16, one loop."""
    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.models import load_checkpoint

    model, info = load_checkpoint(ckpt)
    x = check_inputs_from_images([photo], info["preprocess"])
    files = {}
    for tta in ("none", "flip"):
        path = ckpt.with_name(f"student_{tta}.onnx")
        export_onnx(model, info["schema"], info["preprocess"], path, check_inputs=x, tta=tta)
        files[tta] = path
    # one variant at a time, each in a fresh process: interleaved ONNX Runtime sessions spin-wait and
    # slow the others down, and so do the evaluation's PyTorch threads left in this process
    np.save(ckpt.with_name("latency_input.npy"), x)
    out = {}
    for tta, path in files.items():
        for target in ("onnxruntime", "openvino:bf16"):
            res = subprocess.run([sys.executable, "-c", LATENCY_SNIPPET, str(path), target,
                                  str(ckpt.with_name("latency_input.npy")), str(iters)],
                                 check=True, capture_output=True, text=True)
            key = f"{target.replace(':', '_')}{'_tta' if tta == 'flip' else ''}_p50_ms"
            out[key] = round(float(res.stdout.strip().splitlines()[-1]), 3)
    return out


def join_earlier(runs: dict, args) -> set[int]:
    """Add the runs of ``args.earlier`` result files to ``runs`` (each marked with its file and
    machine); -> their seeds. A file measured on other data, budget or teacher, or repeating a run, is refused."""
    seeds = set()
    for path in args.earlier:
        prev = json.loads(path.read_text())
        if (prev["data"], prev["minutes"], prev["teacher"]) != (str(args.data), args.minutes, args.teacher):
            raise SystemExit(f"{path}: measured on {prev['data']}, {prev['minutes']} min, teacher "
                             f"{prev['teacher']}; this run is {args.data}, {args.minutes} min, {args.teacher}")
        for key, row in prev["runs"].items():
            if key in runs:
                raise SystemExit(f"{path}: run {key} is measured twice; leave its seed out of --seeds")
            # the machine the run was measured on (the budget buys other epoch counts elsewhere)
            runs[key] = {"from": str(path), "machine": prev.get("machine"), **row}
            seeds.add(int(key.rsplit("_s", 1)[1]))
    return seeds


def mean_sd(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": values}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--teacher", default="efficientnet-lite2")
    ap.add_argument("--minutes", type=float, default=28)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--configs", nargs="+", default=["student", "distilled"],
                    choices=["student", "distilled", "semi"])
    ap.add_argument("--unlabelled", type=Path, help="semi: the unlabelled photos (a folder)")
    ap.add_argument("--runs", type=Path, default=Path("runs/distill"))
    ap.add_argument("--extra", default="", help="more train flags for every run, one string")
    ap.add_argument("--iters", type=int, default=100, help="latency: calls per variant")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--with", dest="earlier", type=Path, nargs="+", default=[], metavar="JSON",
                    help="earlier results of this script (same data, minutes, teacher and configs) whose "
                         "runs join the summary, e.g. another seed measured in an earlier session")
    args = ap.parse_args(argv)
    if "semi" in args.configs and not args.unlabelled:
        ap.error("--configs semi needs --unlabelled DIR")

    from edgefashion.data.splits import load_split

    schema, val = load_split(args.data, "val", "auto")
    runs = {}
    for seed in args.seeds:
        for config in args.configs:
            out = args.runs / f"{config}_s{seed}"
            cmd = train_command(args.data, config, seed, args.minutes, args.teacher, out, args.extra.split(),
                                args.unlabelled)
            record = run_training(cmd, out)
            summary = json.loads((out / "train_summary.json").read_text())
            row = {**record, "epochs": summary["epochs"], "minutes": round(summary["seconds"] / 60, 2),
                   "val": evaluate(out / "best.pt", val, schema)}
            if "teacher" in summary:
                t = summary["teacher"]
                row["teacher"] = {k: t.get(k) for k in ("spec", "model", "input_size", "minutes", "epochs",
                                                        "budget")}
                row["teacher"]["val"] = evaluate(Path(t["checkpoint"]), val, schema)
            runs[f"{config}_s{seed}"] = row
            print(json.dumps({f"{config}_s{seed}": row["val"]}), flush=True)
    photo = next(s.path for s in val)
    for key, row in runs.items():
        row["latency"] = latency(args.runs / key / "best.pt", photo, args.iters)
    seeds = sorted({*args.seeds, *join_earlier(runs, args)})
    table = {}
    for config in args.configs:
        rows = [runs[f"{config}_s{s}"] for s in seeds]
        table[config] = {f"{v}_{m}": mean_sd([r["val"][v][m] for r in rows])
                         for v in ("plain", "flip_tta") for m in ("top1", "top3")}
        if config in ("distilled", "semi"):
            name = "teacher" if config == "distilled" else "semi_teacher"
            table[name] = {f"{v}_{m}": mean_sd([r["teacher"]["val"][v][m] for r in rows])
                           for v in ("plain", "flip_tta") for m in ("top1", "top3")}
    payload = {"benchmark": "distill", "command": " ".join(sys.argv), "data": str(args.data),
               "validation_images": len(val), "minutes": args.minutes, "teacher": args.teacher,
               "seeds": seeds, "summary": table, "runs": runs,
               "joined": [str(f) for f in args.earlier]}
    path = write_result("distill", payload, args.json)
    print(json.dumps(table, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
