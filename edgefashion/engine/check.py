"""Engine vs ONNX on real images: the accuracy report of the build step, with the accuracy gate.

Uses edgefashion.precision's image streaming, report and gate, so an engine is judged exactly like a
quantized ONNX: category top-1 agreement, top-3 / top-5 deltas (labels from category folders when the
images sit in them), attribute top-k overlap, max-abs and cosine per output.
"""
from __future__ import annotations

from pathlib import Path

from edgefashion.runtime.backends.base import Backend


def engine_vs_onnx(onnx: str | Path, backend: Backend, images, num: int = 64, max_drop: float | None = 0.5,
                   precision: str = "fp32", batch_size: int = 8) -> dict:
    """Run the ONNX (ONNX Runtime, CPU) and the engine's ``backend`` on up to ``num`` of ``images``; -> the report.

    Raises AccuracyGateError (an ExportError) when the engine breaks a rule of the gate's defaults
    (precision/gate.py: top-1 agreement, top-1 drop on labelled images, per-output bounds) or loses
    more than ``max_drop`` points of top-3 accuracy; the report is on the exception.
    """
    from edgefashion.precision.accuracy import accuracy_report, collect_outputs
    from edgefashion.precision.calibration import (CalibrationImages, folder_labels, resolve_images,
                                                   split_images)
    from edgefashion.precision.gate import enforce
    from edgefashion.runtime.backends.onnxruntime import OnnxRuntimeBackend
    from edgefashion.runtime.metadata import preprocess_from_metadata, schema_from_metadata
    from edgefashion.runtime.preprocess import PreprocessConfig

    paths, _ = split_images(resolve_images(images, "check"), num)
    reference = OnnxRuntimeBackend(onnx)
    try:
        meta = backend.metadata or reference.metadata
        prep = preprocess_from_metadata(meta) or PreprocessConfig(
            input_size=int(next(iter(backend.input_specs.values())).shape[-1]))
        batches = CalibrationImages(paths, prep, batch_size)
        # the Predictor's infer feeds extra inputs (neutral "known") and pads static batches
        from edgefashion.runtime.predictor import Predictor

        ref_p, eng_p = Predictor(reference), Predictor(backend, schema=schema_from_metadata(meta))
        ref_out, eng_out = collect_outputs([ref_p.infer, eng_p.infer], batches)
    finally:
        reference.close()
    schema = schema_from_metadata(meta)
    labels = folder_labels(paths, schema.category_names) if schema is not None else None
    report = accuracy_report(ref_out, eng_out, labels=labels, schema=schema)
    report["reference"], report["candidate"] = str(onnx), f"{precision} TensorRT engine"
    enforce(report, f"the {precision} TensorRT engine", max_drop)
    return report
