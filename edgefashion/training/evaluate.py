"""Evaluation: run any model (PyTorch module or a runtime backend) over samples, report metrics."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgefashion.labels import LabelSchema
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training.metrics import evaluation_report

InferFn = Callable[[np.ndarray], dict]
EXTRA_OUTPUTS = ("landmarks", "embedding")  # kept for the metrics of the models that have them


def collect_outputs(infer: InferFn, samples: Sequence, preprocess: PreprocessConfig,
                    batch_size: int = 16, progress: bool = False) -> dict[str, np.ndarray]:
    """Run ``infer`` over the samples (shared preprocessing, no augmentation); stack outputs."""
    from edgefashion.data import GarmentDataset, attribute_matrix

    ds = GarmentDataset(samples, preprocess, train=False)
    kept: dict[str, list] = {k: [] for k in ("category_logits", "attribute_logits") + EXTRA_OUTPUTS}
    for i in _progress(range(0, len(ds), batch_size), progress, "evaluate"):
        items = [ds[j] for j in range(i, min(i + batch_size, len(ds)))]
        out = infer(np.stack([np.asarray(it["image"]) for it in items]))
        for k in kept:
            if k in out:
                kept[k].append(np.asarray(out[k]))
        if ds.has_landmarks:  # ground truth in model-input coordinates, for the landmark metrics
            kept.setdefault("landmarks_true", []).append(np.stack([it["landmarks"] for it in items]))
    outs = {k: np.concatenate(v) for k, v in kept.items() if v}
    outs["categories"] = np.asarray([s.category for s in samples], np.int64)
    outs["attributes"] = attribute_matrix(samples, outs["attribute_logits"].shape[1] if kept[
        "attribute_logits"] else 0)
    return outs


def evaluate_outputs(outs: dict, schema: LabelSchema) -> dict:
    groups = {g: idx for g, idx in schema.group_indices().items() if idx}
    report = evaluation_report(outs["category_logits"], outs["categories"], outs["attribute_logits"],
                               outs["attributes"], groups, schema)
    report["num_categories"] = schema.num_categories
    if "landmarks" in outs and "landmarks_true" in outs:
        from edgefashion.training.landmark_metrics import landmark_report

        report.update(landmark_report(outs["landmarks"], outs["landmarks_true"]))
    from edgefashion.training.metrics import multitask_report  # Jaccard, embedding mAP

    report.update(multitask_report(outs, schema))
    from edgefashion.training.temperature import calibration_report

    calibration = calibration_report(outs, schema)
    if calibration:
        report["calibration"] = calibration
    return report


def evaluate_model(model, samples: Sequence, schema: LabelSchema, preprocess: PreprocessConfig,
                   batch_size: int = 16, device="cpu", progress: bool = False) -> dict:
    """Evaluate a PyTorch model in eval mode (restores its training mode afterwards)."""
    outs = collect_model_outputs(model, samples, preprocess, batch_size, device, progress)
    return evaluate_outputs(outs, schema)


def collect_model_outputs(model, samples: Sequence, preprocess: PreprocessConfig,
                          batch_size: int = 16, device="cpu", progress: bool = False) -> dict:
    """``collect_outputs`` for a PyTorch model in eval mode (its training mode restored after)."""
    import torch

    was_training = model.training
    model.eval()

    def infer(x: np.ndarray) -> dict:
        with torch.inference_mode():
            out = model(torch.from_numpy(x).to(device))
        return {k: v.float().cpu().numpy() for k, v in out.items()}

    try:
        return collect_outputs(infer, samples, preprocess, batch_size, progress)
    finally:
        model.train(was_training)


def save_report(report: dict, out_dir: str | Path, schema: LabelSchema | None = None) -> dict[str, Path]:
    """Write report.json and a per-type bar plot (report.png)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "png": out_dir / "report.png"}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    _plot(report, paths["png"])
    return paths


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, values, majority = [], [], []
    if report.get("num_categories", 2) > 1:
        names += ["category top-1", "category top-3", "category top-5"]
        values += [report.get(f"category_top{k}", float("nan")) for k in (1, 3, 5)]
        majority += [float("nan")] * 3
    for group, m in report.get("groups", {}).items():  # the truthful figures first
        names.append(f"{group} top-1" if m["kind"] == "exclusive" else f"{group} mAP")
        values.append(m["top1"] if m["kind"] == "exclusive" else m["map"])
        majority.append(m.get("majority_share", float("nan")))
    for k in (3, 5):
        for group, v in report.get(f"attribute_top{k}_recall", {}).items():
            names.append(f"{group} R@{k}")
            values.append(v)
            majority.append(float("nan"))
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(names)), 4))
    ax.bar(range(len(values)), [0 if np.isnan(v) else 100 * v for v in values], color="#3b7dd8")
    if any(not np.isnan(v) for v in majority):  # the majority share as a tick on each group's bar
        ax.scatter(range(len(majority)), [100 * v for v in majority], marker="_", s=300, color="#d83b3b",
                   label="majority share", zorder=3)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(f"edgefashion evaluation ({report.get('num_images', '?')} images)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _progress(it, enabled: bool, desc: str):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, unit="batch", leave=False)
