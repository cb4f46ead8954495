"""Writing the engine's sidecar (``model.engine.json``), and checking what a rebuild starts from.

The record itself (``EngineInfo``), reading it and the checks before an engine runs are the runtime's
(``runtime.tensorrt.sidecar``): the runtime only reads plain data. The build records its settings twice
there (``recorded_settings``): as data, which ``settings_of`` turns back into BuildSettings for a rebuild,
and as the exact ``edgefashion build ...`` command, which the runtime prints on a mismatch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from edgefashion.engine.settings import BuildSettings
from edgefashion.errors import EngineMismatchError, ModelFileError
from edgefashion.runtime.metadata import sidecar_path
from edgefashion.runtime.tensorrt.sidecar import ENGINE_KEY, EngineInfo, sha256_file


def recorded_settings(settings: BuildSettings) -> dict:
    """The ``EngineInfo`` fields that record a build's settings: the data and the command that repeats it."""
    return {"builder": settings.to_dict(), "rebuild_command": settings.to_command()}


def settings_of(info: EngineInfo) -> BuildSettings:
    """The settings an engine was built with, from its sidecar's ``builder`` section."""
    return BuildSettings.from_dict(info.builder)


def make_sidecar(onnx_metadata: Mapping | None, info: EngineInfo) -> dict:
    """The sidecar JSON object: the ONNX's metadata with the engine section added."""
    out = dict(onnx_metadata or {"format_version": 1})
    out[ENGINE_KEY] = info.to_dict()
    return out


def write_sidecar(engine_path: str | Path, sidecar: Mapping) -> Path:
    """Write ``<engine>.json`` atomically (a temp file renamed over the old one)."""
    path = sidecar_path(engine_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(sidecar, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def check_source(info: EngineInfo) -> None:
    """The ONNX model (and calibration cache) a rebuild needs exist and are the ones recorded."""
    onnx = Path(info.source_onnx)
    if not onnx.is_file():
        raise ModelFileError(f"cannot rebuild: the source ONNX {str(onnx)!r} recorded in the sidecar does not "
                             "exist any more; copy it back, or build from another ONNX with `edgefashion build`")
    if sha256_file(onnx) != info.source_onnx_sha256:
        raise EngineMismatchError(
            f"cannot rebuild: the source ONNX {str(onnx)!r} changed since the engine was built (its sha256 "
            "differs from the sidecar's); rebuild explicitly with `edgefashion build` so the new model is "
            "checked again"
        )
    if info.calib_cache and info.calib_cache_sha256 and Path(info.calib_cache).is_file():
        if sha256_file(info.calib_cache) != info.calib_cache_sha256:
            raise EngineMismatchError(
                f"cannot rebuild: the calibration cache {info.calib_cache!r} changed since the engine was "
                "built; rebuild explicitly with `edgefashion build` (with --calib to recalibrate)"
            )
