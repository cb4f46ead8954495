"""Landmark normalized distance of a pretrained edge model on real photos, against the baselines.

    nice -n 5 python benchmarks/pretrained_landmarks.py ../shared/data/deepfashion-fine-attr \
        --input-size 160 --minutes 10 --freeze-layers 3 \
        --json benchmarks/results/pretrained_landmarks_fineattr.json

One run = ``benchmarks/pretrained_accuracy.py``'s run (``edgefashion train DATA --model msfan_lite
--pretrained efficientnet-lite0 --model-opt landmarks=true``, the fine-tuning recipe), then on the
validation split:

- landmark normalized distance and detection rates of best.pt (the trainer picks it by attribute
  top-3 recall on data without categories, not by landmarks) and of last.pt;
- best.pt exported to ONNX and evaluated through ONNX Runtime (same metrics, max abs difference of
  the landmarks to PyTorch), and one ``Predictor`` call on the file (named landmarks in pixels);
- baselines at the same input size: every point at the input centre -- what a head that learned
  nothing predicts (soft-argmax of flat heatmaps); the committed from-scratch landmark_attention
  figure (``results/zoo_accuracy_fineattr_cpu.json``, read here) equals it -- and each landmark at
  its mean training position;
- visibility accuracy (confidence >= 0.5 vs the point being labelled and inside the crop), for
  information: the project's evaluation reports no visibility metric.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS, machine_info  # noqa: E402
from benchmarks.pretrained_accuracy import run as train_and_evaluate  # noqa: E402

SCRATCH_JSON = RESULTS / "zoo_accuracy_fineattr_cpu.json"
LANDMARK_KEYS = ("landmark_normalized_distance", "landmark_detection_rate", "landmark_points")


def landmark_part(report: dict) -> dict:
    return {k: report[k] for k in LANDMARK_KEYS if k in report}


def ground_truth(samples, prep) -> np.ndarray:
    """(N, 8, 3) landmarks in model-input coordinates, as the evaluation sees them (no augmentation)."""
    from edgefashion.data import GarmentDataset

    ds = GarmentDataset(samples, prep, train=False)
    return np.stack([ds[i]["landmarks"].numpy() for i in range(len(ds))])


def baselines(train, val, prep) -> dict:
    from edgefashion.training.landmark_metrics import landmark_report

    g_tr, g_va = ground_truth(train, prep), ground_truth(val, prep)
    seen = g_tr[..., 2:3] > 0
    mean_xy = (g_tr[..., :2] * seen).sum(0) / np.maximum(seen.sum(0), 1)
    return {"centre": landmark_report(np.full_like(g_va, 0.5), g_va),
            "train_mean_position": landmark_report(np.broadcast_to(mean_xy, g_va[..., :2].shape), g_va)}


def scratch_figure() -> dict | None:
    """The committed from-scratch landmark model's validation landmark figures, if present."""
    if not SCRATCH_JSON.is_file():
        return None
    for r in json.loads(SCRATCH_JSON.read_text())["results"]:
        if "landmark_normalized_distance" in r.get("val", {}):
            return {"source": str(SCRATCH_JSON.relative_to(RESULTS.parent.parent)), "model": r["model"],
                    "options": r["options"], **landmark_part(r["val"])}
    return None


def visibility_accuracy(outs: dict, threshold: float = 0.5) -> float:
    pred = outs["landmarks"][..., 2] >= threshold
    return float((pred == (outs["landmarks_true"][..., 2] > 0)).mean())


def onnx_check(model, schema, prep, val, out_dir: Path, threads: int) -> dict:
    """Export, evaluate the file through ONNX Runtime, and read one photo with the Predictor."""
    import onnxruntime as ort
    import torch

    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.runtime.predictor import Predictor
    from edgefashion.training.evaluate import collect_outputs, evaluate_outputs

    path = out_dir / "landmarks.onnx"
    x = check_inputs_from_images([s.path for s in val[:8]], prep)
    export_onnx(model, schema, prep, path, check_inputs=x, real_images=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    infer = lambda batch: dict(zip(names, sess.run(None, {"image": batch})))  # noqa: E731
    outs = collect_outputs(infer, val, prep, batch_size=16)
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x))["landmarks"].numpy()
    with Predictor(path, threads=threads) as pred:
        r = pred(val[0].path, bboxes=val[0].bbox)
    max_abs = float(np.abs(infer(x)["landmarks"] - ref).max())
    return {"file": str(path), "landmarks_max_abs_vs_torch": max_abs,
            **landmark_part(evaluate_outputs(outs, schema)),
            "visibility_accuracy": visibility_accuracy(outs),
            "predictor_landmarks_first_val_photo": {k: [round(float(c), 2) for c in v]
                                                    for k, v in (r.landmarks or {}).items()}}


def torch_outputs(path: Path, val, prep) -> tuple[dict, dict]:
    """(landmark report, collected outputs) of a checkpoint on the validation samples."""
    import torch

    from edgefashion.models import load_checkpoint
    from edgefashion.training.evaluate import collect_outputs, evaluate_outputs

    model, info = load_checkpoint(path)

    def infer(x: np.ndarray) -> dict:
        with torch.inference_mode():
            return {k: v.numpy() for k, v in model(torch.from_numpy(x)).items()}

    outs = collect_outputs(infer, val, prep, batch_size=32)
    return {**landmark_part(evaluate_outputs(outs, info["schema"])),
            "visibility_accuracy": visibility_accuracy(outs)}, outs


def landmark_history(last: Path) -> list[dict]:
    """Per epoch: lr, loss and the validation landmark distance / attribute recall (from last.pt)."""
    from edgefashion.models import read_checkpoint

    rows = []
    for h in (read_checkpoint(last).get("train_state") or {}).get("history", []):
        val = h.get("val", {})
        rows.append({"epoch": h.get("epoch"), "lr": h.get("lr"), "loss": h.get("loss"),
                     "landmark_nd": val.get("landmark_normalized_distance", {}).get("overall"),
                     "attribute_top3_recall": val.get("attribute_top3_recall", {}).get("overall")})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="deepfashion-fine-attr (or any data with landmarks)")
    ap.add_argument("--pretrained", default="efficientnet-lite0", help="a weights spec, or none")
    ap.add_argument("--model-opt", action="append", metavar="KEY=VALUE", default=None,
                    help="msfan_lite options beyond landmarks=true")
    ap.add_argument("--input-size", type=int, default=160)
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget (wall clock)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--freeze-layers", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/pretrained_landmarks"))
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)
    train_args = argparse.Namespace(
        data=args.data, layout="auto", model="msfan_lite", pretrained=args.pretrained,
        model_opt=["landmarks=true"] + (args.model_opt or []), input_size=args.input_size,
        width=None, minutes=args.minutes, epochs=args.epochs, batch_size=args.batch_size,
        schedule=None, lr=args.lr, backbone_lr_mult=None, layer_decay=None,
        freeze_layers=args.freeze_layers, label_smoothing=None, augment=None, ema=None,
        threads=args.threads, seed=args.seed, out=args.out, copy_best=None)
    result = train_and_evaluate(train_args)

    from edgefashion.data.splits import load_split
    from edgefashion.models import load_checkpoint

    schema, train = load_split(args.data, "train")
    _, val = load_split(args.data, "val", schema=schema)
    best, info = load_checkpoint(args.out / "best.pt")
    prep = info["preprocess"]
    best_lm, _ = torch_outputs(args.out / "best.pt", val, prep)
    last_lm, _ = torch_outputs(args.out / "last.pt", val, prep)
    doc = {"benchmark": "pretrained_landmarks", "machine": machine_info(),
           "command": " ".join([Path(sys.argv[0]).name] + (argv or sys.argv[1:])),
           "settings": {k: str(v) for k, v in vars(args).items()},
           "pretrained_best": best_lm, "pretrained_last": last_lm,
           "onnx_best": onnx_check(best, schema, prep, val, args.out, args.threads),
           "baselines": baselines(train, val, prep), "from_scratch_committed": scratch_figure(),
           "history": landmark_history(args.out / "last.pt"), "training": result}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    nd = lambda r: r["landmark_normalized_distance"]["overall"]  # noqa: E731
    scratch = doc["from_scratch_committed"]
    print(json.dumps({"best": nd(best_lm), "last": nd(last_lm), "onnx_best": nd(doc["onnx_best"]),
                      "centre": nd(doc["baselines"]["centre"]),
                      "train_mean": nd(doc["baselines"]["train_mean_position"]),
                      "from_scratch": nd(scratch) if scratch else None,
                      "epochs": result["epochs"], "wall_s": result["wall_seconds"],
                      "load": result["loadavg_after"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
