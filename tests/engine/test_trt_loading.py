"""Issue 14 (items 5-7) and issue 11 (5): what a loaded engine holds and frees, its DLA core, its CUDA graph,
the DLA build path, and that the runtime loads engines without importing the builder.

TensorRT and CUDA cannot run here: the loader is driven by the smallest stand-ins that have the behaviour
in question (a runtime that records the order of calls, an engine with one input and one output, a CUDA
runtime whose pointers are integers and which shows what was not freed), defined in this file. The same
paths run for real in ``test_trt_engine_gpu.py`` (needs_trt), see docs/tensorrt.md.
"""
from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgefashion.errors import ModelFileError
from edgefashion.runtime.tensorrt.compat import features_for_version
from edgefashion.runtime.tensorrt.loader import GraphCache, LoadedEngine

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ 5-6. what a loaded engine holds, and frees
class FakeCuda:
    """The CUDA runtime calls the loader makes; pointers are integers, and what was not freed is visible."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.live, self.count, self.fail_at = set(), 0, fail_at

    def _new(self):
        self.count += 1
        if self.count == self.fail_at:
            from edgefashion.runtime.tensorrt.cuda import CudaError
            raise CudaError("CUDA call cudaMalloc failed: out of memory")
        self.live.add(self.count)
        return self.count

    def stream(self):
        return self._new()

    def malloc(self, nbytes):
        return self._new()

    def malloc_host(self, nbytes):
        return np.zeros(int(nbytes), np.uint8)

    def free(self, ptr):
        self.live.remove(ptr)

    def free_host(self, arr):
        pass

    def destroy_stream(self, s):
        self.live.remove(s)

    def destroy_graph(self, g):
        self.live.remove(g)


class FakeEngine:
    """ICudaEngine with one dynamic-batch input and one output (named-tensor API)."""

    def __init__(self) -> None:
        self.num_io_tensors = 2

    def get_tensor_name(self, i):
        return ["image", "logits"][i]

    def get_tensor_mode(self, name):
        return "in" if name == "image" else "out"

    def get_tensor_dtype(self, name):
        return "FLOAT"

    def get_tensor_shape(self, name):
        return (-1, 3, 8, 8) if name == "image" else (-1, 10)

    def get_tensor_profile_shape(self, name, index):
        return (1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8)

    def create_execution_context(self):
        return FakeContext(self)


class FakeContext:
    def __init__(self, engine, address_ok=True) -> None:
        self.engine, self.address_ok = engine, address_ok  # a real context keeps its engine alive too

    def set_input_shape(self, name, shape):
        return True

    def get_tensor_shape(self, name):
        return (4, 10)

    def set_tensor_address(self, name, ptr):
        return self.address_ok


def fake_trt(calls: list, address_ok: bool = True):
    class Runtime:
        def __init__(self, logger) -> None:
            self._dla = None

        @property
        def DLA_core(self):  # noqa: N802 - TensorRT's name
            return self._dla

        @DLA_core.setter
        def DLA_core(self, core):  # noqa: N802
            calls.append(("DLA_core", core))
            self._dla = core

        def deserialize_cuda_engine(self, plan):
            calls.append(("deserialize", self._dla))
            engine = FakeEngine()
            engine.create_execution_context = lambda: FakeContext(engine, address_ok)
            return engine

    return SimpleNamespace(Runtime=Runtime, TensorIOMode=SimpleNamespace(INPUT="in"))


def test_close_drops_the_engine_context_and_runtime_and_frees_every_buffer():
    calls, cuda = [], FakeCuda()
    loaded = LoadedEngine(fake_trt(calls), cuda, b"plan", None, True, "m.engine")
    assert loaded.limits.max == 4 and len(cuda.live) == 3  # a stream + two device buffers
    refs = [weakref.ref(o) for o in (loaded.engine, loaded.context, loaded.runtime, loaded.io)]
    loaded.graphs.put(((4, 3, 8, 8),), cuda._new())
    loaded.close()
    gc.collect()
    assert [r() for r in refs] == [None, None, None, None] and cuda.live == set()
    loaded.close()  # twice is fine


@pytest.mark.parametrize("fail_at", [2, 3])  # the first / the second device buffer
def test_a_failed_allocation_frees_what_was_already_allocated(fail_at):
    from edgefashion.runtime.tensorrt.cuda import CudaError

    cuda = FakeCuda(fail_at=fail_at)
    with pytest.raises(CudaError, match="out of memory"):
        LoadedEngine(fake_trt([]), cuda, b"plan", None, True, "m.engine")
    assert cuda.live == set()


def test_a_rejected_tensor_address_is_an_error_and_frees_the_buffers():
    cuda = FakeCuda()
    with pytest.raises(ModelFileError, match="rejected the device address .* 'image'"):
        LoadedEngine(fake_trt([], address_ok=False), cuda, b"plan", None, True, "m.engine")
    assert cuda.live == set()


def test_a_dla_engine_gets_its_dla_core_before_it_is_deserialized():
    calls = []
    LoadedEngine(fake_trt(calls), FakeCuda(), b"plan", None, True, "m.engine", dla_core=1).close()
    assert calls == [("DLA_core", 1), ("deserialize", 1)]
    calls.clear()
    LoadedEngine(fake_trt(calls), FakeCuda(), b"plan", None, True, "m.engine").close()
    assert calls == [("deserialize", None)]  # a GPU engine: the runtime's default


def test_the_calibrator_frees_its_device_buffer_when_the_build_fails():
    from edgefashion.engine.calibrator import make_entropy_calibrator

    class IInt8EntropyCalibrator2:  # the bindings' base class: only its constructor is called here
        def __init__(self) -> None:
            pass

    class Batches:  # CalibrationBatches' shape: only its size matters for the device buffer
        shape, batch_size, images = (2, 3, 8, 8), 2, ["a.jpg", "b.jpg"]

        def __iter__(self):
            return iter(())

    cuda, batches = FakeCuda(), Batches()
    trt = SimpleNamespace(IInt8EntropyCalibrator2=IInt8EntropyCalibrator2)
    with pytest.raises(RuntimeError, match="build failed"):
        with make_entropy_calibrator(trt, batches, "image", None, cuda):
            assert len(cuda.live) == 1
            raise RuntimeError("build failed")
    assert cuda.live == set()
    calibrator = make_entropy_calibrator(trt, batches, "image", None, cuda)
    with pytest.raises(ValueError):
        with calibrator.closing_on_error():  # configuring it failed (set_calibration_profile, say)
            raise ValueError("bad profile")
    assert cuda.live == set()


# ------------------------------------------------------------------ 7. CUDA graphs: one per shape, re-captured
def test_a_graph_is_only_replayed_at_the_shapes_it_was_captured_at():
    destroyed = []
    graphs = GraphCache(destroyed.append)
    graphs.put(((4, 3, 8, 8),), "graph@4")
    assert graphs.get(((4, 3, 8, 8),)) == "graph@4"
    assert graphs.get(((2, 3, 8, 8),)) is None  # another shape: capture anew ...
    graphs.put(((2, 3, 8, 8),), "graph@2")
    assert destroyed == ["graph@4"]  # ... and the old graph is gone, not replayed later
    assert graphs.get(((4, 3, 8, 8),)) is None
    graphs.clear()
    assert destroyed == ["graph@4", "graph@2"]


# ------------------------------------------------------------------ issue 11: layers point one way
def test_no_runtime_module_imports_the_engine_builder():
    import ast

    offenders = []
    for path in sorted((REPO / "edgefashion" / "runtime").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in names
                          if n == "edgefashion.engine" or n.startswith("edgefashion.engine.")]
    assert offenders == []
    # and importing the TensorRT backend loads nothing of the builder
    code = ("import sys, edgefashion.runtime.backends.tensorrt, edgefashion.runtime.tensorrt.loader; "
            "print(sorted(m for m in sys.modules if m.startswith('edgefashion.engine')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_dla_builds_take_the_path_nvidia_documents_for_each_version():
    from edgefashion.engine.plan import select_build_path

    f10, f11, f86 = (features_for_version(v) for v in ("10.3.0", "11.4.1", "8.6.2"))
    for f in (f86, f10):  # weakly typed with flags, as trtexec --useDLACore --fp16 --allowGPUFallback
        path = select_build_path(f, "fp16", "fp32", dla=True)
        assert (path.name, path.builder_flags, path.quantize_to) == ("builder_flags", ("FP16",), None)
        path = select_build_path(f, "int8", "fp32", has_calib=True, dla=True)
        assert path.calibrator and path.builder_flags == ("INT8",)
    assert "DLA on TensorRT 10.3.0" in " ".join(select_build_path(f10, "fp16", "fp32", dla=True).notes)
    path = select_build_path(f11, "fp16", "fp32", dla=True)  # 11.x: DLA networks are strongly typed
    assert (path.name, path.builder_flags, path.quantize_to) == ("strongly_typed", (), "fp16")
    assert select_build_path(f10, "fp16", "fp32").name == "strongly_typed"  # the GPU keeps strong typing


def test_the_rebuild_is_handed_in_as_a_function(tmp_path):
    from edgefashion.errors import BadInput
    from edgefashion.runtime.backends.tensorrt import TensorRTBackend

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"\0" * 64)
    with pytest.raises(BadInput, match="must be a function .* edgefashion.engine.rebuild_engine"):
        TensorRTBackend(engine, rebuild_on_mismatch=True)


def test_the_backend_keeps_nothing_of_the_engine_after_close(tmp_path, monkeypatch):
    """The whole backend on the stand-ins: after close() no reference to the engine, its context or the
    runtime is left anywhere in it (the old I/O helper kept the engine, and so its weights, alive)."""
    from contextlib import nullcontext

    from edgefashion.runtime.backends.tensorrt import TensorRTBackend
    from edgefashion.runtime.tensorrt import compat, cuda, plugins

    class Cuda(FakeCuda):
        def device_info(self):
            return "Stand-in GPU", "8.7"

        def active(self):
            return nullcontext()

    stand_in = Cuda()
    trt = fake_trt([])
    trt.__version__, trt.Logger = "10.3.0", type("Logger", (), {"WARNING": 2, "__init__": lambda s, v: None})
    trt.init_libnvinfer_plugins = lambda logger, namespace: True
    monkeypatch.setattr(compat, "import_tensorrt", lambda *a: trt)
    monkeypatch.setattr(compat, "probe_features", lambda t: features_for_version(t.__version__))
    monkeypatch.setattr(compat, "_LOGGER", {})
    monkeypatch.setattr(plugins, "_NVINFER_PLUGINS", [])
    monkeypatch.setattr(plugins, "default_plugin_library", lambda: None)
    monkeypatch.setattr(cuda, "open_cuda", lambda index, library: stand_in)
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    be = TensorRTBackend(engine)
    assert be.input_specs["image"].shape == (None, 3, 8, 8) and be.limits.max == 4
    refs = [weakref.ref(o) for o in (be.loaded.engine, be.loaded.context, be.loaded.runtime)]
    be.close()
    gc.collect()
    assert [r() for r in refs] == [None, None, None] and stand_in.live == set()
