"""TensorRT plugin libraries: NVIDIA's built-in plugins and edgefashion's fused-op plugins.

edgefashion's library (``libedgefashion_trt_plugins.so``, from csrc/tensorrt, built by CMake when
TENSORRT_ROOT is set and installed to ``edgefashion/lib/``) holds IPluginV3 plugins, so it needs
TensorRT >= 10; it is loaded with ``IPluginRegistry.load_library``. A library that ``load_library``
rejects (it exports no ``getCreators`` / ``getPluginCreators``: it registers itself statically with
``REGISTER_TENSORRT_PLUGIN``, as most third-party plugin libraries do) is opened with ``ctypes.CDLL``
instead, which runs its static registration; so is every library on TensorRT 8.5 (no load_library).
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from edgefashion.runtime.tensorrt.compat import TrtFeatures
from edgefashion.errors import ExtensionNotBuilt, ModelFileError

log = logging.getLogger("edgefashion.engine")

LIBRARY_NAME = {"win32": "edgefashion_trt_plugins.dll"}.get(sys.platform, "libedgefashion_trt_plugins.so")
ENV_VAR = "EDGEFASHION_TRT_PLUGINS"
_LOADED: dict[str, object] = {}  # path -> handle; a library is loaded once per process
_NVINFER_PLUGINS: list = []     # the logger init_libnvinfer_plugins was given (it must live as long as the process)


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
    """Register NVIDIA's plugins (once per process) and load each library; -> the loaded paths. A library
    that does not load raises ExtensionNotBuilt (never only a warning). ``logger``: the process's logger
    (``compat.make_logger``): libnvinfer_plugin keeps the pointer it is given for the whole process."""
    if not _NVINFER_PLUGINS:
        trt.init_libnvinfer_plugins(logger, "")
        _NVINFER_PLUGINS.append(logger)  # a reference for as long as libnvinfer_plugin holds the pointer
    loaded = []
    for path in paths:
        key = str(Path(path).resolve())
        if key not in _LOADED:
            _LOADED[key] = _load_one(trt, key, features)
        loaded.append(key)
    return loaded


def _load_one(trt, path: str, features: TrtFeatures):
    """The registry's ``load_library`` (dynamic registration) where TensorRT has it; when that returns
    null, or on TensorRT 8.5, ``ctypes.CDLL`` (a self-registering library registers when opened)."""
    if features.registry_load_library:
        registry = trt.get_plugin_registry()
        handle = registry.load_library(path)
        if handle is not None:
            return handle
        log.info("TensorRT's load_library did not take %s (no getCreators / getPluginCreators: a library that "
                 "registers itself with REGISTER_TENSORRT_PLUGIN); opening it with ctypes", path)
    try:
        return ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
    except OSError as e:
        how = ("neither TensorRT's load_library nor ctypes" if features.registry_load_library else "ctypes")
        raise ExtensionNotBuilt(
            f"TensorRT {features.version} could not load the plugin library {path!r} with {how} ({e}); it must be "
            "a shared library built for this platform against this TensorRT major version"
        ) from e
