"""Precision: fp16 / int8 ONNX with an accuracy gate, model comparison, calibration images and cache.

    from edgefashion.precision import quantize_onnx, compare_models
    quantize_onnx("model.onnx", "model.int8.onnx", "int8", calib="photos/", max_drop=0.5)
    quantize_onnx("model.onnx", None, "int8", QuantizeOptions(calib="photos/", targets="openvino"))

Heavy imports (onnx, onnxruntime.quantization) happen when a function is first used.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "quantize_onnx": "quantize", "QuantizeOptions": "options", "default_output": "quantize",
    "report_path_for": "quantize",
    "compare_models": "compare", "format_compare": "compare",
    "accuracy_report": "accuracy", "format_report": "accuracy", "collect_outputs": "accuracy",
    "AccuracyGateError": "gate", "gate": "gate", "enforce": "gate",
    "CalibrationImages": "calibration", "resolve_images": "calibration",
    "split_images": "calibration", "folder_labels": "calibration", "cache_key_parts": "calibration",
    "cache_key": "calibration", "read_cache": "calibration", "write_cache": "calibration",
    "images_digest": "calibration", "model_digest": "calibration",
    "convert_fp16": "fp16", "calibrate": "int8", "resolve_patterns": "graph",
    "qat_finetune": "qat",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"edgefashion.precision.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'edgefashion.precision' has no attribute {name!r}")
