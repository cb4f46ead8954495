"""Streaming: run a model on a live source (camera, RTSP / HTTP stream, video file, image folder).

    from edgefashion.stream import Stream
    with Stream("rtsp://cam/main", "model.onnx", center_crop=0.6) as s:
        for frame, pred in s:
            print(pred.category.label, pred.labels)

pipeline (Stream: capture, preprocessing and inference threads), sources (frame sources), sinks
(window, video file, JSON lines), smoothing (scores over frames, with hysteresis), mailbox (the
one-slot hand-off between threads), stats (counters and latencies). Built on edgefashion.runtime's
Predictor; the names below are resolved on first use, so ``import edgefashion.stream`` stays cheap.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Stream": "edgefashion.stream.pipeline",
    "SmoothingConfig": "edgefashion.stream.smoothing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'edgefashion.stream' has no attribute {name!r}")
