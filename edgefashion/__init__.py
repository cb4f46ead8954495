"""edgefashion: fashion clothing analysis at the edge.

    import edgefashion
    p = edgefashion.Predictor("model.onnx")      # or .engine / .pt
    r = p("shirt.jpg")
    r.category.top(3), r.attributes

``import edgefashion`` loads nothing heavy: torch, onnxruntime and tensorrt are imported only by
the parts that need them.
"""
from __future__ import annotations

__version__ = "0.1.0"

from edgefashion.errors import EdgeFashionError  # noqa: E402
from edgefashion.labels import LabelSchema  # noqa: E402

__all__ = ["Predictor", "Prediction", "LabelSchema", "EdgeFashionError", "__version__"]


def __getattr__(name: str):
    if name in ("Predictor", "Prediction"):
        from edgefashion.runtime import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'edgefashion' has no attribute {name!r}")
