"""TensorRT backend: a serialized engine (``.engine`` / ``.plan``) on an NVIDIA GPU.

    b = TensorRTBackend("model.engine")                        # checks model.engine.json first
    b = TensorRTBackend("model.engine", rebuild_on_mismatch=True, cuda_graph=True)
    out = b.infer({"image": x})                                # x: (N, 3, S, S) float32, any N

Before anything runs, the sidecar is checked: the engine's sha256, the TensorRT version and the GPU must
be the recorded ones, else EngineMismatchError saying how to rebuild (or, with
``rebuild_on_mismatch=True``, the engine is rebuilt from the ONNX the sidecar points to, and replaces
the old one only after passing its checks). Pinned host and device buffers are sized once from the
profile's max shapes and reused; copies and the enqueue run on one stream; with ``cuda_graph=True`` the
enqueue of each input shape is captured once and replayed. One lock serializes ``infer``, so a Backend
(and a Predictor) can be shared between threads. tensorrt and cuda-python are imported on load only.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgefashion.engine.buffers import host_view, plan_buffers
from edgefashion.engine.profiles import BatchRange, split_batch
from edgefashion.engine.trt_compat import INSTALL_HINT
from edgefashion.errors import BackendUnavailable, BadInput, EngineMismatchError, ModelFileError, ShapeError
from edgefashion.runtime.backends.base import Backend, TensorSpec, check_model_file, module_available

log = logging.getLogger("edgefashion.engine")
INSTALL = INSTALL_HINT


def device_index(device: str | int | None) -> int:
    """None / 'cuda' -> 0, 'cuda:N' / N -> N; 'cpu' is refused (engines run on a GPU)."""
    if device is None:
        return 0
    if isinstance(device, int) and not isinstance(device, bool) and device >= 0:
        return device
    dev = str(device).lower()
    if dev in ("cuda", "gpu"):
        return 0
    if dev.startswith("cuda:") and dev[5:].isdigit():
        return int(dev[5:])
    raise BadInput(f"device {device!r} cannot run a TensorRT engine; use 'cuda' or 'cuda:N' (for the CPU, "
                   "run the model's .onnx with ONNX Runtime)")


class TensorRTBackend(Backend):
    """A TensorRT engine. Options: ``device`` ('cuda' / 'cuda:N'), ``plugins`` (extra plugin libraries),
    ``cuda_graph``, ``rebuild_on_mismatch``, ``check`` (False skips the sidecar checks: only for engines
    you know match), ``log_level``, ``cuda_library`` ('auto' | 'cuda-python' | 'pycuda')."""

    name = "tensorrt"
    install_hint = INSTALL

    @classmethod
    def is_available(cls) -> bool:
        return module_available("tensorrt")

    def __init__(self, path: str | Path, device: str | int | None = None, plugins: Sequence = (),
                 cuda_graph: bool = False, rebuild_on_mismatch: bool = False, check: bool = True,
                 log_level: str = "warning", cuda_library: str = "auto", **options) -> None:
        if options:
            raise BadInput(f"unknown TensorRT backend options {sorted(options)}; valid: device, plugins, "
                           "cuda_graph, rebuild_on_mismatch, check, log_level, cuda_library")
        from edgefashion.engine.cuda import open_cuda
        from edgefashion.engine.sidecar import read_engine_sidecar
        from edgefashion.engine.trt_compat import MIN_RUNTIME, import_tensorrt, probe_features

        self.path = check_model_file(path)
        self._closed = True
        index = device_index(device)
        sidecar = read_engine_sidecar(self.path)
        trt = import_tensorrt(f"run the engine {str(self.path)!r}", MIN_RUNTIME)
        self.trt, self.features = trt, probe_features(trt)
        self.cuda = open_cuda(index, cuda_library)
        if cuda_graph and not hasattr(self.cuda, "begin_capture"):
            raise BackendUnavailable("cuda_graph=True needs cuda-python (pycuda is in use); pip install cuda-python")
        self.gpu_name, self.compute_capability = self.cuda.device_info()
        if sidecar is None:
            log.warning("engine %s has no sidecar %s.json: it runs without the TensorRT-version / GPU checks "
                        "(build it with `edgefashion build` to get them)", self.path, self.path.name)
        elif check:
            sidecar = self._check(sidecar, rebuild_on_mismatch, index)
        self.sidecar = sidecar
        self.metadata = sidecar.metadata if sidecar is not None else None
        self.device = f"cuda:{index}"
        self.cuda_graph = bool(cuda_graph)
        with self.cuda.active():
            self._load(plugins, log_level)
            self._allocate()
        self._lock = threading.Lock()
        self._graphs: dict[tuple, object] = {}
        self._shapes: dict[str, tuple] = {}
        self._closed = False

    # ------------------------------------------------------------------ loading
    def _check(self, sidecar, rebuild: bool, device: int):
        from edgefashion.engine.sidecar import GpuInfo, RuntimeEnv, check_engine, read_engine_sidecar

        env = RuntimeEnv(self.trt.__version__, GpuInfo(self.gpu_name, self.compute_capability))
        try:
            check_engine(sidecar, self.path, env)
            return sidecar
        except EngineMismatchError as e:
            if not rebuild:
                raise
            log.warning("%s", e)
        from edgefashion.engine.builder import rebuild_engine

        rebuild_engine(self.path, sidecar.engine, device=device)
        fresh = read_engine_sidecar(self.path)
        check_engine(fresh, self.path, env)
        return fresh

    def _load(self, plugins: Sequence, log_level: str) -> None:
        from edgefashion.engine.plugins import load_plugins, resolve_plugins
        from edgefashion.engine.trt_compat import make_logger
        from edgefashion.engine.trt_io import engine_io

        trt = self.trt
        recorded = [p for p in (self.sidecar.engine.plugins if self.sidecar else ()) if Path(p).is_file()]
        logger = make_logger(trt, log_level)
        self.plugins = load_plugins(trt, logger, resolve_plugins([*plugins, *recorded], self.features),
                                    self.features)
        self.runtime = trt.Runtime(logger)
        self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise ModelFileError(self._deserialize_error())
        self.io = engine_io(trt, self.engine, self.features.named_tensors)
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise BackendUnavailable(f"TensorRT could not create an execution context for {str(self.path)!r} "
                                     "(out of GPU memory?)")

    def _deserialize_error(self) -> str:
        msg = (f"TensorRT {self.features.version} could not deserialize {str(self.path)!r} (its log above says "
               "why): the file is not an engine, was built by another TensorRT version or for another GPU, "
               "or needs a plugin library")
        if self.sidecar is not None:
            from edgefashion.engine.sidecar import rebuild_command

            eng = self.sidecar.engine
            msg += (f"; it was built with TensorRT {eng.tensorrt_version} on {eng.gpu}, plugins "
                    f"{list(eng.plugins) or 'none'}; rebuild it with:\n  {rebuild_command(eng, self.path)}")
        else:
            msg += "; rebuild it with `edgefashion build model.onnx -o model.engine`"
        return msg

    def _allocate(self) -> None:
        """Profile max shapes -> buffers; bind every tensor's device address once."""
        tensors = self.io.tensors()
        max_shapes = {}
        for name, is_input, _, shape in tensors:
            if is_input and any(d < 0 for d in shape):
                max_shapes[name] = self.io.profile(name)[2]
                self.io.set_input_shape(self.context, name, max_shapes[name])
            elif is_input:
                max_shapes[name] = shape
        for name, is_input, _, _ in tensors:
            if not is_input:
                max_shapes[name] = self.io.shape(self.context, name)
        self.plan = plan_buffers(tensors, max_shapes)
        first = self.plan.inputs[0]
        lo = self.io.profile(first.name)[0] if first.shape[0] < 0 else first.max_shape
        self.limits = BatchRange(int(lo[0]), int(lo[0]), int(first.max_shape[0]))
        self.stream = self.cuda.stream()
        self.host: dict[str, np.ndarray] = {}
        self.dev: dict[str, int] = {}
        for t in self.plan.tensors:
            self.host[t.name] = self.cuda.malloc_host(t.alloc_bytes)
            self.dev[t.name] = self.cuda.malloc(t.alloc_bytes)
            self.io.bind(self.context, t.name, self.dev[t.name])
        self.input_specs = {t.name: _spec(t) for t in self.plan.inputs}
        self.output_specs = {t.name: _spec(t) for t in self.plan.outputs}
        log.info("TensorRT buffers for %s:\n%s", self.path.name, self.plan.describe())

    # ------------------------------------------------------------------ running
    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._closed:
            raise BackendUnavailable(f"the TensorRT backend for {self.path.name!r} is closed")
        feeds = self.check_inputs(inputs)
        n = len(next(iter(feeds.values())))
        if any(len(v) != n for v in feeds.values()):
            raise ShapeError(f"inputs {sorted(feeds)} have different batch sizes "
                             f"{[len(v) for v in feeds.values()]}")
        parts = []
        with self._lock, self.cuda.active():
            for start, stop, run in split_batch(n, self.limits):
                parts.append(self._run({k: v[start:stop] for k, v in feeds.items()}, run))
        if not parts:
            return {t.name: np.zeros(t.shape_for(0), np.float32) for t in self.plan.outputs}
        out = {k: np.concatenate([p[k] for p in parts]) if len(parts) > 1 else parts[0][k] for k in parts[0]}
        return {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in out.items()}

    def _run(self, chunk: Mapping[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
        """One enqueue at ``batch`` (>= len(chunk), padded with zeros)."""
        k = len(next(iter(chunk.values())))
        for t in self.plan.inputs:
            shape = t.shape_for(batch)
            view = host_view(self.host[t.name], shape, t.dtype)
            view[:k] = chunk[t.name]
            view[k:] = 0
            if self._shapes.get(t.name) != shape:
                self.io.set_input_shape(self.context, t.name, shape)
                self._shapes[t.name] = shape
            self.cuda.htod_async(self.dev[t.name], view, self.stream)
        self._enqueue(tuple(self._shapes[t.name] for t in self.plan.inputs))
        views = {}
        for t in self.plan.outputs:
            views[t.name] = host_view(self.host[t.name], self.io.shape(self.context, t.name), t.dtype)
            self.cuda.dtoh_async(views[t.name], self.dev[t.name], self.stream)
        self.cuda.synchronize(self.stream)
        return {name: v[:k].copy() for name, v in views.items()}

    def _enqueue(self, key: tuple) -> None:
        if not self.cuda_graph:
            if not self.io.execute(self.context, self.stream):
                raise ShapeError(f"TensorRT failed to run {self.path.name!r} at input shapes {key}")
            return
        graph = self._graphs.get(key)
        if graph is None:
            # One plain enqueue first lets TensorRT settle its state for these shapes, then capture.
            if not self.io.execute(self.context, self.stream):
                raise ShapeError(f"TensorRT failed to run {self.path.name!r} at input shapes {key}")
            from edgefashion.engine.cuda import CudaError

            try:
                self.cuda.begin_capture(self.stream)
                ok = self.io.execute(self.context, self.stream)
                graph = self.cuda.end_capture(self.stream)
            except CudaError as e:
                raise BackendUnavailable(f"{self.path.name!r} cannot be captured in a CUDA graph ({e}); load it "
                                         "with cuda_graph=False") from e
            if not ok:
                self.cuda.destroy_graph(graph)
                raise BackendUnavailable(f"TensorRT could not capture {self.path.name!r} in a CUDA graph; "
                                         "load it with cuda_graph=False")
            self._graphs[key] = graph
        self.cuda.launch_graph(graph, self.stream)

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        with self._lock, self.cuda.active():
            for graph in self._graphs.values():
                self.cuda.destroy_graph(graph)
            self._graphs.clear()
            self.context = self.engine = self.runtime = None
            for name in list(self.dev):
                self.cuda.free(self.dev.pop(name))
                self.cuda.free_host(self.host.pop(name))
            self.cuda.destroy_stream(self.stream)

    def __del__(self) -> None:  # buffers go back even if close() was forgotten
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing useful to report
            pass


def _spec(t) -> TensorSpec:
    """A buffer's declared shape as a TensorSpec (None for the dynamic batch)."""
    return TensorSpec(tuple(None if d < 0 else d for d in t.shape), t.dtype)
