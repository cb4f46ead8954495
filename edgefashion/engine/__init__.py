"""TensorRT engines: everything that builds one (``build_engine``) and writes its sidecar.

Nothing here imports tensorrt (or CUDA) until a build asks for it:

    from edgefashion.engine import build_engine
    build_engine("model.int8.onnx", "model.engine", batch="1:8:32", timing_cache="trt.cache")

Modules: ``settings`` (BuildSettings: what a build was asked), ``plan`` (which build path), ``profiles``
(the optimization profiles of a build), ``calibrator`` (legacy INT8 calibration), ``builder`` /
``trt_build`` (the build), ``sidecar`` (writes ``model.engine.json``; checks a rebuild's source),
``progress``, ``parser_errors``, ``check`` (engine vs ONNX), ``trt_compat`` (every TensorRT name the
builder and backend use), ``trt_onnx_rules`` (what TensorRT's ONNX parser accepts, checked without
TensorRT), ``trt_onnx_fixes`` (rewrites applied before parsing on an older TensorRT: LayerNormalization
on 8.5).
What *loading* an engine needs (versions and features, CUDA, buffers, batch ranges, reading the sidecar
and its checks, plugin loading) lives in ``edgefashion.runtime.tensorrt``; this package imports it, and
the runtime never imports this package (a rebuild on mismatch is handed to the backend as a function:
``rebuild_on_mismatch=rebuild_engine``).
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "build_engine": "edgefashion.engine.builder", "rebuild_engine": "edgefashion.engine.builder",
    "BuildResult": "edgefashion.engine.builder", "select_build_path": "edgefashion.engine.plan",
    "BuildSettings": "edgefashion.engine.settings", "plan_profile": "edgefashion.engine.profiles",
    "make_sidecar": "edgefashion.engine.sidecar", "TRT_API_USED": "edgefashion.engine.trt_compat",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'edgefashion.engine' has no attribute {name!r}")
