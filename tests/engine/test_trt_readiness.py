"""Issue 14 (items 1-4, 8): what a desk-check against the real TensorRT API found, fenced without TensorRT.

TensorRT cannot run here, so where a test needs a TensorRT or CUDA object it uses the smallest stand-in
that has the one behaviour in question (a registry whose ``load_library`` returns null, a runtime that
records the order of calls, a CUDA runtime whose allocations are integers): each is a handful of lines
defined in this file, and each says which real behaviour it stands for. The same paths run for real in
``test_trt_engine_gpu.py`` (needs_trt), see docs/tensorrt.md. Items 5-7: ``test_trt_loading.py``.
"""
from __future__ import annotations

import gc
import logging
import shutil
import subprocess
import weakref
from pathlib import Path
from types import SimpleNamespace

import pytest

from edgefashion.errors import ExtensionNotBuilt
from edgefashion.runtime.tensorrt import compat, plugins
from edgefashion.runtime.tensorrt.compat import features_for_version

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ 1. CMake against TensorRT 8.5 headers
def _configure(tmp_path: Path, version_h: str) -> str:
    root = tmp_path / "TensorRT"
    (root / "include").mkdir(parents=True)
    (root / "include" / "NvInfer.h").write_text("// empty: the configure step only looks for the file\n")
    (root / "include" / "NvInferVersion.h").write_text(version_h)
    proc = subprocess.run(["cmake", "-S", str(REPO), "-B", str(tmp_path / "build"), f"-DTENSORRT_ROOT={root}",
                           "-DEDGEFASHION_WITH_CUDA=OFF"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cmake_skips_the_iplugin_v3_plugins_on_tensorrt_8_headers_and_says_why(tmp_path):
    # JetPack 5's layout of NvInferVersion.h (TensorRT 8.5): plain numbers
    out = _configure(tmp_path / "a", "#define NV_TENSORRT_MAJOR 8 //!< TensorRT major version.\n"
                                     "#define NV_TENSORRT_MINOR 5 //!< TensorRT minor version.\n")
    assert "skipping the TensorRT plugins: TensorRT 8.x headers" in out and "needs TensorRT >= 10" in out
    # TensorRT >= 10.8 spells the major through TRT_MAJOR_ENTERPRISE: read as 10, so only CUDA is missing here
    out = _configure(tmp_path / "b", "#define TRT_MAJOR_ENTERPRISE 10\n"
                                     "#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE //!< TensorRT major version.\n")
    assert "skipping the TensorRT plugins: TensorRT 10 found, but no CUDA compiler" in out


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler")
def test_the_plugin_sources_refuse_tensorrt_8_headers_with_a_clear_error(tmp_path):
    (tmp_path / "NvInferVersion.h").write_text("#define NV_TENSORRT_MAJOR 8\n#define NV_TENSORRT_MINOR 5\n")
    proc = subprocess.run(["c++", "-std=c++17", "-fsyntax-only", f"-I{tmp_path}", f"-I{REPO / 'csrc'}",
                           str(REPO / "csrc" / "tensorrt" / "plugin_library.cpp")], capture_output=True, text=True)
    assert proc.returncode != 0 and "IPluginV3 plugins and need TensorRT >= 10" in proc.stderr


# ------------------------------------------------------------------ 2. plugin libraries that register themselves
class NullRegistry:
    """IPluginRegistry.load_library returns null for a library without getCreators / getPluginCreators."""

    def __init__(self) -> None:
        self.asked = []

    def load_library(self, path):
        self.asked.append(path)
        return None


def _trt_with(registry):
    return SimpleNamespace(get_plugin_registry=lambda: registry)


def test_a_self_registering_plugin_library_falls_back_to_ctypes(caplog):
    import _ctypes  # any real shared library will do: ctypes opens it as a library

    path = str(Path(_ctypes.__file__).resolve())
    registry = NullRegistry()
    with caplog.at_level(logging.INFO, logger="edgefashion.engine"):
        handle = plugins._load_one(_trt_with(registry), path, features_for_version("10.3.0"))
    assert registry.asked == [path]  # the registry was asked first ...
    assert handle._name == path      # ... and ctypes opened the library after it said null
    assert "REGISTER_TENSORRT_PLUGIN" in caplog.text


def test_a_plugin_file_that_is_not_a_library_is_refused_naming_both_tries(tmp_path):
    bad = tmp_path / "libnot_a_plugin.so"
    bad.write_text("not an ELF file")
    with pytest.raises(ExtensionNotBuilt, match="neither TensorRT's load_library nor ctypes.*libnot_a_plugin"):
        plugins._load_one(_trt_with(NullRegistry()), str(bad), features_for_version("10.3.0"))


# ------------------------------------------------------------------ 3. a damaged timing cache
class NullTimingConfig:
    """IBuilderConfig.create_timing_cache returns null for bytes TensorRT cannot read (cacheUtils.cpp)."""

    def __init__(self) -> None:
        self.set = []

    def create_timing_cache(self, data: bytes):
        return None if data else SimpleNamespace(fresh=True)

    def set_timing_cache(self, cache, ignore_mismatch: bool) -> bool:
        self.set.append(cache)
        return True


def test_a_truncated_timing_cache_starts_fresh_with_a_warning_naming_the_file(tmp_path, caplog):
    from edgefashion.engine.trt_build import _load_timing_cache, read_timing_cache, write_timing_cache

    cache = tmp_path / "trt.cache"
    data = bytes(range(256)) * 64
    write_timing_cache(str(cache), data)
    assert read_timing_cache(str(cache)) == data
    cache.write_bytes(data[: len(data) // 3])  # a copy cut short
    with caplog.at_level(logging.WARNING, logger="edgefashion.engine"):
        assert read_timing_cache(str(cache)) == b""
    assert str(cache) in caplog.text and "damaged" in caplog.text
    # a cache from trtexec (no .sha256) that TensorRT cannot read: null from create_timing_cache -> fresh
    Path(str(cache) + ".sha256").unlink()
    config = NullTimingConfig()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edgefashion.engine"):
        _load_timing_cache(config, str(cache))
    assert config.set == [SimpleNamespace(fresh=True)] and str(cache) in caplog.text


# ------------------------------------------------------------------ 4. one logger for the process
class Logger:
    """trt.Logger: severities as class attributes, ``min_severity`` settable."""

    ERROR, WARNING, INFO, VERBOSE = 1, 2, 3, 4

    def __init__(self, severity) -> None:
        self.min_severity = severity


def test_the_logger_handed_to_libnvinfer_plugin_lives_as_long_as_the_process(monkeypatch):
    monkeypatch.setattr(compat, "_LOGGER", {})
    monkeypatch.setattr(plugins, "_NVINFER_PLUGINS", [])
    given = []
    trt = SimpleNamespace(Logger=Logger, init_libnvinfer_plugins=lambda logger, ns: given.append(weakref.ref(logger)))
    plugins.load_plugins(trt, compat.make_logger(trt, "warning"), [], features_for_version("10.3.0"))
    plugins.load_plugins(trt, compat.make_logger(trt, "verbose"), [], features_for_version("10.3.0"))
    gc.collect()
    assert len(given) == 1 and given[0]() is not None  # registered once, and still alive
    assert compat.make_logger(trt, "error") is given[0]() and given[0]().min_severity == Logger.ERROR


# ------------------------------------------------------------------ 8. cuda-python 11.x (JetPack 5)
class CudaPython11:
    """cuda-python 11.x's runtime: cudaGraphInstantiate(graph, logBuffer, bufferSize) -> (err, exec, node),
    no cudaGraphInstantiateWithFlags in the oldest 11.x builds."""

    def cudaGetDeviceCount(self):  # noqa: N802 - CUDA's names
        return (0, 1)

    def cudaSetDevice(self, d):  # noqa: N802
        return (0,)

    def cudaStreamEndCapture(self, s):  # noqa: N802
        return (0, "graph")

    def cudaGraphDestroy(self, g):  # noqa: N802
        return (0,)

    def cudaGraphInstantiate(self, graph, log_buffer, size):  # noqa: N802
        return (0, f"exec({graph})", "error-node")


class CudaPython12(CudaPython11):
    """cuda-python 12.x / 13.x: cudaGraphInstantiateWithFlags(graph, flags) -> (err, exec)."""

    def cudaGraphInstantiateWithFlags(self, graph, flags):  # noqa: N802
        return (0, f"exec({graph})")

    def cudaGraphInstantiate(self, graph, flags):  # noqa: N802
        return (0, f"exec({graph})")


@pytest.mark.parametrize("rt", [CudaPython11(), CudaPython12()], ids=["cuda-python-11", "cuda-python-12"])
def test_graph_instantiation_works_with_cuda_python_11_and_12(rt):
    from edgefashion.runtime.tensorrt.cuda import CudaRuntime

    assert CudaRuntime(0, rt=rt).end_capture(stream=7) == "exec(graph)"


def test_the_real_cuda_python_has_the_call_used_when_installed():
    rt = pytest.importorskip("cuda.bindings.runtime")
    assert hasattr(rt, "cudaGraphInstantiateWithFlags")


