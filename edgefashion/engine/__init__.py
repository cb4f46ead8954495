"""TensorRT engines: build (``build_engine``), the JSON sidecar, profiles, calibration, version adaptation.

Nothing here imports tensorrt (or CUDA) until a build or a load asks for it:

    from edgefashion.engine import build_engine
    build_engine("model.int8.onnx", "model.engine", batch="1:8:32", timing_cache="trt.cache")

Modules (building only): ``plan`` (which build path), ``calibrator`` (legacy INT8 calibration),
``builder`` / ``trt_build`` (the build), ``progress``, ``parser_errors``, ``check`` (engine vs ONNX),
``trt_onnx_rules`` (what TensorRT's ONNX parser accepts, checked without TensorRT), ``trt_onnx_fixes``
(rewrites applied before parsing on an older TensorRT: LayerNormalization on 8.5).
What *loading* an engine needs (versions and features, CUDA, buffers, profiles, the sidecar and its
checks, plugin loading) lives in ``edgefashion.runtime.tensorrt``; the runtime never imports this package
(a rebuild on mismatch is handed to the backend as a function: ``rebuild_on_mismatch=rebuild_engine``).
``settings``, ``profiles``, ``trt_compat`` and ``sidecar`` here re-export the runtime modules of those names.
"""
from __future__ import annotations

import importlib

_RT = "edgefashion.runtime.tensorrt"
_EXPORTS = {
    "build_engine": "edgefashion.engine.builder", "rebuild_engine": "edgefashion.engine.builder",
    "BuildResult": "edgefashion.engine.builder", "select_build_path": "edgefashion.engine.plan",
    "BuildSettings": f"{_RT}.settings", "BatchRange": f"{_RT}.profiles", "plan_profile": f"{_RT}.profiles",
    "EngineInfo": f"{_RT}.sidecar", "read_engine_sidecar": f"{_RT}.sidecar", "check_engine": f"{_RT}.sidecar",
    "rebuild_command": f"{_RT}.sidecar", "features_for_version": f"{_RT}.compat",
    "TRT_API_USED": f"{_RT}.compat", "plan_buffers": f"{_RT}.buffers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'edgefashion.engine' has no attribute {name!r}")
