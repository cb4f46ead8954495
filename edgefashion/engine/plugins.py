"""TensorRT plugin libraries: NVIDIA's built-in plugins and edgefashion's fused-op plugins.

edgefashion's library (``libedgefashion_trt_plugins.so``, from csrc/tensorrt, built by CMake when
TENSORRT_ROOT is set and installed to ``edgefashion/lib/``) holds IPluginV3 plugins, so it needs
TensorRT >= 10; it is loaded with ``IPluginRegistry.load_library``. On TensorRT 8.5 (no load_library)
a user's plugin library is opened with ``ctypes.CDLL`` and registers itself.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from edgefashion.engine.trt_compat import TrtFeatures
from edgefashion.errors import ExtensionNotBuilt, ModelFileError

log = logging.getLogger("edgefashion.engine")

LIBRARY_NAME = {"win32": "edgefashion_trt_plugins.dll"}.get(sys.platform, "libedgefashion_trt_plugins.so")
ENV_VAR = "EDGEFASHION_TRT_PLUGINS"
_LOADED: dict[str, object] = {}  # path -> handle; a library is loaded once per process


def default_plugin_library() -> Path | None:
    """``$EDGEFASHION_TRT_PLUGINS`` or the library installed beside the package, when it exists."""
    env = os.environ.get(ENV_VAR)
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[1] / "lib" / LIBRARY_NAME)
    for c in candidates:
        if c.is_file():
            return c
    return None


def resolve_plugins(paths: Sequence[str | Path], features: TrtFeatures | None = None,
                    include_default: bool = True) -> list[Path]:
    """The plugin libraries to load: the given ones (each must exist) plus the default library (when
    installed and the TensorRT is 10+, the version its IPluginV3 plugins need)."""
    out = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.is_file():
            raise ModelFileError(
                f"plugin library {str(path)!r} does not exist; build edgefashion's with "
                "`TENSORRT_ROOT=/path/to/TensorRT pip install -e .` (it lands in edgefashion/lib/) or fix the path"
            )
        out.append(path.resolve())
    default = default_plugin_library() if include_default else None
    if default is not None and default.resolve() not in out:
        if features is None or features.major >= 10:
            out.append(default.resolve())
        else:
            log.info("not loading %s: its IPluginV3 plugins need TensorRT >= 10 (this is %s)",
                     default, features.version)
    return out


def load_plugins(trt, logger, paths: Sequence[Path], features: TrtFeatures) -> list[str]:
    """Register NVIDIA's plugins and load each library; -> the loaded paths. A library that does not
    load raises ExtensionNotBuilt (never only a warning)."""
    trt.init_libnvinfer_plugins(logger, "")
    loaded = []
    for path in paths:
        key = str(Path(path).resolve())
        if key not in _LOADED:
            _LOADED[key] = _load_one(trt, key, features)
        loaded.append(key)
    return loaded


def _load_one(trt, path: str, features: TrtFeatures):
    if features.registry_load_library:
        registry = trt.get_plugin_registry()
        handle = registry.load_library(path)
        if handle is None:
            raise ExtensionNotBuilt(
                f"TensorRT {features.version} could not load the plugin library {path!r} (see the TensorRT log "
                "above); it must be built against this TensorRT major version"
            )
        return handle
    try:
        return ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
    except OSError as e:
        raise ExtensionNotBuilt(f"could not open the plugin library {path!r}: {e}") from e
