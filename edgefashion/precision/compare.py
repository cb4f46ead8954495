"""``compare_models``: any model files the Predictor loads, on the same images; the first is the reference.

    report = compare_models(["best.pt", "model.onnx", "model.int8.onnx", "model.engine"], "photos/")
    report = compare_models(["model.onnx", "model.onnx@openvino:bf16", "model.int8.onnx@openvino"],
                            "photos/")                 # runtime precision hints, gated like a file
    print(format_compare(report))

``PATH@BACKEND`` runs PATH on that backend (``backend=`` of the Predictor, e.g. ``openvino:bf16``), so
a runtime precision hint (bf16 / f16 on OpenVINO) is compared, and gated, like a precision step that
writes a file.

Each model runs with its own preprocessing (from its metadata) on the same decoded images; outputs
are compared with the reference's by ``accuracy_report``. Labels come from the images' folder names
when they match the reference's categories.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgefashion.errors import BadInput, SchemaError
from edgefashion.precision import calibration as cal
from edgefashion.precision.accuracy import accuracy_report, format_report
from edgefashion.precision.gate import DEFAULT_MAX_DROP, DEFAULT_MAX_TOP1_DROP, DEFAULT_MIN_AGREEMENT, GateRules, gate
from edgefashion.runtime.images import load_image
from edgefashion.runtime.preprocess import preprocess_batch
from edgefashion.runtime.selftest import artifact_precision


def split_model_spec(spec: str | Path) -> tuple[Path, str]:
    """``"m.onnx@openvino:bf16"`` -> (Path("m.onnx"), "openvino:bf16"); a plain path -> (path, "auto")."""
    text = str(spec)
    path, sep, backend = text.rpartition("@")
    if not sep or not path or "/" in backend or "\\" in backend:  # an "@" inside a folder name
        return Path(text), "auto"
    return Path(path), backend or "auto"


def _open(spec, threads: int | None, device: str | None):
    from edgefashion.runtime.backends.base import backend_name_for, split_backend_spec
    from edgefashion.runtime.predictor import Predictor

    path, backend = split_model_spec(spec)
    name = backend_name_for(path, prefer_available=True) if backend == "auto" else split_backend_spec(backend)[0]
    opts = {"threads": threads} if threads is not None and name in ("onnxruntime", "openvino") else {}
    return Predictor(path, backend=backend, device=device, **opts)


def precision_label(predictor) -> str:
    """The artifact's precision, with a runtime hint appended: "fp32", "int8", "bf16", "int8+bf16"."""
    prec = artifact_precision(predictor.metadata)
    hint = getattr(predictor.backend, "precision_hint", None)
    if hint in (None, "f32"):
        return prec
    return hint if prec == "fp32" else f"{prec}+{hint}"


def compare_models(paths: Sequence[str | Path], images, batch_size: int = 8, threads: int | None = None,
                   limit: int | None = None, device: str | None = None, progress: bool = True,
                   max_drop: float | None = DEFAULT_MAX_DROP,
                   min_agreement: float = DEFAULT_MIN_AGREEMENT,
                   max_top1_drop: float | None = DEFAULT_MAX_TOP1_DROP) -> dict:
    """Run every model on ``images`` (folder, list file, glob or list of paths) and compare each
    with the first. -> {"reference", "images", "passed", "models": [{path, backend, precision,
    ms_per_image, report}]}; each report carries the accuracy gate's verdict (precision/gate.py;
    ``max_drop`` None records the rules without failing)."""
    rules = GateRules(DEFAULT_MAX_DROP if max_drop is None else max_drop, min_agreement,
                      max_top1_drop=max_top1_drop)
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise BadInput(f"compare needs at least two model files (the first is the reference); got "
                       f"{[str(p) for p in paths]}")
    image_paths = cal.resolve_images(images, "comparison")
    if limit is not None and len(image_paths) > limit:
        image_paths, _ = cal.split_images(image_paths, limit, seed=1)
    models = [_open(p, threads, device) for p in paths]
    ref = models[0]
    for m in models[1:]:
        if m.schema.category_names != ref.schema.category_names:
            raise SchemaError(f"{m.path.name!r} has categories {m.schema.category_names[:5]}..., "
                              f"the reference {ref.path.name!r} has {ref.schema.category_names[:5]}...; "
                              "compare models trained on the same labels")
    for m in models:
        m.warmup(1)  # lazy initialisation is not timed
    outputs, seconds = _run_all(models, image_paths, batch_size, progress)
    labels = cal.folder_labels(image_paths, ref.schema.category_names)
    rows = []
    for m, out, sec in zip(models, outputs, seconds):
        rows.append({"path": str(m.path), "backend": m.backend.name, "device": m.backend.device,
                     "precision": precision_label(m),
                     "ms_per_image": 1e3 * sec / len(image_paths),
                     "report": accuracy_report(outputs[0], out, labels, ref.schema)})
        gate(rows[-1]["report"], max_drop, rules)
    for m in models:
        m.close()
    return {"reference": str(paths[0]),
            "images": {"source": str(images) if isinstance(images, (str, Path)) else "listed",
                       "num_images": len(image_paths),
                       "labels": "folders" if labels is not None else "none (reference top-1)"},
            "passed": all(r["report"]["gate"]["passed"] for r in rows[1:]), "models": rows}


def _run_all(models, image_paths: list, batch_size: int, progress: bool):
    from edgefashion.precision.int8 import _bar

    outs: list[dict[str, list]] = [{} for _ in models]
    seconds = [0.0] * len(models)
    bar = _bar(len(image_paths), "comparing", progress)
    try:
        for i in range(0, len(image_paths), batch_size):
            imgs = [load_image(p) for p in image_paths[i:i + batch_size]]
            cache: dict = {}
            for j, m in enumerate(models):
                cfg = m.preprocess_config
                if cfg not in cache:
                    cache[cfg] = preprocess_batch(imgs, cfg)
                t = time.perf_counter()
                res = m.infer(cache[cfg])
                seconds[j] += time.perf_counter() - t
                for k, v in res.items():
                    outs[j].setdefault(k, []).append(np.asarray(v, np.float32))
            if bar is not None:
                bar.update(len(imgs))
    finally:
        if bar is not None:
            bar.close()
    return [{k: np.concatenate(v) for k, v in o.items()} for o in outs], seconds


def format_compare(report: dict, details: bool = False) -> str:
    """One line per model (the reference first), then optionally each full report."""
    imgs = report["images"]
    header = (f"{'model':<34} {'backend':<11} {'prec':<9} {'top1 agr':>8} {'top3 acc':>8} "
              f"{'d top3':>7} {'cos min':>8} {'max-abs':>9} {'ms/img':>8}  gate")
    lines = [f"reference: {report['reference']}  ({imgs['num_images']} images, labels: {imgs['labels']})",
             header]
    for row in report["models"]:
        r, c = row["report"], row["report"]["category"]
        logits = r["outputs"].get("category_logits", {})
        name = Path(row["path"]).name
        lines.append(
            f"{name[-34:]:<34} {row['backend']:<11} {row['precision']:<9} "
            f"{100 * c['top1_agreement']:>7.2f}% {100 * c['candidate']['top3']:>7.2f}% "
            f"{c['delta_points']['top3']:>+6.2f} {logits.get('cosine_min', float('nan')):>8.5f} "
            f"{logits.get('max_abs', float('nan')):>9.4g} {row['ms_per_image']:>8.2f}  "
            f"{_verdict(r['gate']) if row is not report['models'][0] else 'reference'}")
    if details:
        for row in report["models"][1:]:
            lines += ["", format_report(row["report"], f"{Path(row['path']).name} vs reference")]
    return "\n".join(lines)


def _verdict(section: dict) -> str:
    if not section["failed"]:
        return "pass"
    return ("FAIL: " if section["enforced"] else "(not enforced) ") + ", ".join(section["failed"])
