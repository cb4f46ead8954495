"""TensorRT backend: a serialized engine (``.engine`` / ``.plan``) on an NVIDIA GPU.

    b = TensorRTBackend("model.engine")                        # checks model.engine.json first
    b = TensorRTBackend("model.engine", rebuild_on_mismatch=rebuild_engine,  # the caller hands in
                        cuda_graph=True)                       # edgefashion.engine.rebuild_engine
    out = b.infer({"image": x})                                # x: (N, 3, S, S) float32, any N

Before anything runs, the sidecar is checked: the engine's sha256, the TensorRT version and the GPU must
be the recorded ones, else EngineMismatchError saying how to rebuild (or, with
``rebuild_on_mismatch=fn``, ``fn(engine_path, engine_info, device)`` rebuilds it from the ONNX the
sidecar points to; ``edgefashion.engine.rebuild_engine`` is that function, and the runtime never imports
it). Loading (``runtime.tensorrt.loader``): pinned host and device buffers sized once from the profile's
max shapes and reused; copies and the enqueue run on one stream; with ``cuda_graph=True`` the enqueue is
captured in a CUDA graph for the current input shapes and re-captured when they change. One lock
serializes ``infer``, so a Backend (and a Predictor) can be shared between threads. ``close()`` frees the
buffers and drops the engine. tensorrt and cuda-python are imported on load only.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from edgefashion.errors import BackendUnavailable, BadInput, EngineMismatchError, ShapeError
from edgefashion.runtime.backends.base import Backend, TensorSpec, check_model_file, module_available
from edgefashion.runtime.tensorrt.buffers import host_view
from edgefashion.runtime.tensorrt.compat import INSTALL_HINT
from edgefashion.runtime.tensorrt.profiles import split_batch

log = logging.getLogger("edgefashion.runtime.tensorrt")
INSTALL = INSTALL_HINT
RebuildFn = Callable[[Path, object, int], object]  # (engine path, EngineInfo, device index) -> anything


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
                 cuda_graph: bool = False, rebuild_on_mismatch: RebuildFn | None = None, check: bool = True,
                 log_level: str = "warning", cuda_library: str = "auto", **options) -> None:
        if options:
            raise BadInput(f"unknown TensorRT backend options {sorted(options)}; valid: device, plugins, "
                           "cuda_graph, rebuild_on_mismatch, check, log_level, cuda_library")
        if rebuild_on_mismatch is not None and not callable(rebuild_on_mismatch):
            raise BadInput(f"rebuild_on_mismatch={rebuild_on_mismatch!r} must be a function (engine path, "
                           "EngineInfo, device) that rebuilds the engine, e.g. edgefashion.engine.rebuild_engine")
        from edgefashion.runtime.tensorrt.compat import MIN_RUNTIME, import_tensorrt, probe_features
        from edgefashion.runtime.tensorrt.cuda import open_cuda
        from edgefashion.runtime.tensorrt.sidecar import read_engine_sidecar

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
        self._lock = threading.Lock()
        self._shapes: dict[str, tuple] = {}
        self._closed = False

    # ------------------------------------------------------------------ loading
    def _check(self, sidecar, rebuild: RebuildFn | None, device: int):
        from edgefashion.runtime.tensorrt.sidecar import GpuInfo, RuntimeEnv, check_engine, read_engine_sidecar

        env = RuntimeEnv(self.trt.__version__, GpuInfo(self.gpu_name, self.compute_capability))
        try:
            check_engine(sidecar, self.path, env)
            return sidecar
        except EngineMismatchError as e:
            if rebuild is None:
                raise
            log.warning("%s", e)
        rebuild(self.path, sidecar.engine, device)
        fresh = read_engine_sidecar(self.path)
        check_engine(fresh, self.path, env)
        return fresh

    def _load(self, plugins: Sequence, log_level: str) -> None:
        from edgefashion.runtime.tensorrt.compat import make_logger
        from edgefashion.runtime.tensorrt.loader import LoadedEngine
        from edgefashion.runtime.tensorrt.plugins import load_plugins, resolve_plugins

        trt = self.trt
        info = self.sidecar.engine if self.sidecar else None
        recorded = [p for p in (info.plugins if info else ()) if Path(p).is_file()]
        logger = make_logger(trt, log_level)
        self.plugins = load_plugins(trt, logger, resolve_plugins([*plugins, *recorded], self.features),
                                    self.features)
        dla = (info.builder or {}).get("dla") if info else None
        self.loaded = LoadedEngine(trt, self.cuda, self.path.read_bytes(), logger, self.features.named_tensors,
                                   self.path.name, dla, self._deserialize_error)
        self.plan, self.limits = self.loaded.plan, self.loaded.limits
        self.input_specs = {t.name: _spec(t) for t in self.plan.inputs}
        self.output_specs = {t.name: _spec(t) for t in self.plan.outputs}

    def _deserialize_error(self) -> str:
        msg = (f"TensorRT {self.features.version} could not deserialize {str(self.path)!r} (its log above says "
               "why): the file is not an engine, was built by another TensorRT version or for another GPU, "
               "or needs a plugin library")
        if self.sidecar is not None:
            from edgefashion.runtime.tensorrt.sidecar import rebuild_command

            eng = self.sidecar.engine
            msg += (f"; it was built with TensorRT {eng.tensorrt_version} on {eng.gpu}, plugins "
                    f"{list(eng.plugins) or 'none'}; rebuild it with:\n  {rebuild_command(eng, self.path)}")
        else:
            msg += "; rebuild it with `edgefashion build model.onnx -o model.engine`"
        return msg

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
        e = self.loaded
        k = len(next(iter(chunk.values())))
        for t in self.plan.inputs:
            shape = t.shape_for(batch)
            view = host_view(e.host[t.name], shape, t.dtype)
            view[:k] = chunk[t.name]
            view[k:] = 0
            if self._shapes.get(t.name) != shape:
                e.io.set_input_shape(e.context, t.name, shape)
                self._shapes[t.name] = shape
            self.cuda.htod_async(e.dev[t.name], view, e.stream)
        self._enqueue(tuple(self._shapes[t.name] for t in self.plan.inputs))
        views = {}
        for t in self.plan.outputs:
            views[t.name] = host_view(e.host[t.name], e.io.shape(e.context, t.name), t.dtype)
            self.cuda.dtoh_async(views[t.name], e.dev[t.name], e.stream)
        self.cuda.synchronize(e.stream)
        return {name: v[:k].copy() for name, v in views.items()}

    def _enqueue(self, key: tuple) -> None:
        e = self.loaded
        if not self.cuda_graph:
            if not e.io.execute(e.context, e.stream):
                raise ShapeError(f"TensorRT failed to run {self.path.name!r} at input shapes {key}")
            return
        graph = e.graphs.get(key)
        if graph is None:
            # a graph belongs to the shapes it was captured at (see runtime.tensorrt.loader): a new shape
            # drops the old graph, runs once plainly so TensorRT settles its state, then is captured
            e.graphs.clear()
            if not e.io.execute(e.context, e.stream):
                raise ShapeError(f"TensorRT failed to run {self.path.name!r} at input shapes {key}")
            graph = self._capture(key)
        self.cuda.launch_graph(graph, e.stream)

    def _capture(self, key: tuple):
        from edgefashion.runtime.tensorrt.cuda import CudaError

        e = self.loaded
        try:
            self.cuda.begin_capture(e.stream)
            ok = e.io.execute(e.context, e.stream)
            graph = self.cuda.end_capture(e.stream)
        except CudaError as err:
            raise BackendUnavailable(f"{self.path.name!r} cannot be captured in a CUDA graph ({err}); load it "
                                     "with cuda_graph=False") from err
        if not ok:
            self.cuda.destroy_graph(graph)
            raise BackendUnavailable(f"TensorRT could not capture {self.path.name!r} in a CUDA graph; "
                                     "load it with cuda_graph=False")
        e.graphs.put(key, graph)
        return graph

    def close(self) -> None:
        """Free the GPU buffers and the graph, and drop the engine, context and runtime: after close()
        nothing of this backend holds TensorRT objects, so the engine's weights leave the GPU."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        with self._lock, self.cuda.active():
            loaded, self.loaded = self.loaded, None
            loaded.close()

    def __del__(self) -> None:  # buffers go back even if close() was forgotten
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing useful to report
            pass


def _spec(t) -> TensorSpec:
    """A buffer's declared shape as a TensorSpec (None for the dynamic batch)."""
    return TensorSpec(tuple(None if d < 0 else d for d in t.shape), t.dtype)
