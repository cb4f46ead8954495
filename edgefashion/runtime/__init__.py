"""Serving: image decoding, preprocessing, backends, post-processing and the Predictor.

Nothing here imports torch, the training code or the data loaders at module level; the names below
are resolved on first use so that ``import edgefashion.runtime`` stays cheap.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Predictor": "edgefashion.runtime.predictor",
    "Prediction": "edgefashion.runtime.prediction",
    "CategoryResult": "edgefashion.runtime.prediction",
    "PreprocessConfig": "edgefashion.runtime.preprocess",
    "preprocess_batch": "edgefashion.runtime.preprocess",
    "load_image": "edgefashion.runtime.images",
    "Backend": "edgefashion.runtime.backends.base",
    "get_backend": "edgefashion.runtime.backends.base",
    "load_backend": "edgefashion.runtime.backends.base",
    "list_backends": "edgefashion.runtime.backends.base",
    "available_backends": "edgefashion.runtime.backends.base",
    "read_onnx_metadata": "edgefashion.runtime.metadata",
    "draw_prediction": "edgefashion.runtime.visualize",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'edgefashion.runtime' has no attribute {name!r}")
