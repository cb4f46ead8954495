"""TensorRT engines: build (``build_engine``), the JSON sidecar, profiles, calibration, version adaptation.

Nothing here imports tensorrt (or CUDA) until a build or a load asks for it:

    from edgefashion.engine import build_engine
    build_engine("model.int8.onnx", "model.engine", batch="1:8:32", timing_cache="trt.cache")

Modules: ``trt_compat`` (versions, features, the TensorRT API used), ``plan`` (which build path),
``profiles`` (--batch), ``buffers`` (I/O sizing), ``sidecar`` (model.engine.json and its checks),
``settings`` (BuildSettings), ``calibrator`` (legacy INT8 calibration), ``builder`` / ``trt_build``
(the build), ``trt_io`` / ``cuda`` (what the runtime backend uses), ``plugins``, ``progress``,
``parser_errors``, ``check`` (engine vs ONNX).
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "build_engine": "builder", "rebuild_engine": "builder", "BuildResult": "builder",
    "BuildSettings": "settings", "BatchRange": "profiles", "plan_profile": "profiles",
    "EngineInfo": "sidecar", "read_engine_sidecar": "sidecar", "check_engine": "sidecar",
    "rebuild_command": "sidecar", "select_build_path": "plan", "features_for_version": "trt_compat",
    "TRT_API_USED": "trt_compat", "plan_buffers": "buffers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"edgefashion.engine.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'edgefashion.engine' has no attribute {name!r}")
