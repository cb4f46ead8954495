"""A deserialized engine with everything it holds on the GPU, and the one CUDA graph it may replay (thin).

``LoadedEngine`` owns, in this order: the ``trt.Runtime``, the ``ICudaEngine``, its execution context, the
I/O helper (``tensor_io``), one CUDA stream, and one pinned host + one device buffer per I/O tensor sized
from the profile's max shapes. ``close()`` gives all of them back and drops every reference to the
TensorRT objects (the I/O helper included: it holds the engine), so the engine's weights leave the GPU.
A failure half-way through loading frees what was already made before it propagates.

``GraphCache`` keeps at most one CUDA graph, bound to the input shapes it was captured at. NVIDIA
documents capturing after a plain enqueue at the shapes to capture (trtexec: samples/common/
sampleInference.cpp, "once before starting CUDA graph capture"), but not that a graph stays valid after
the same context ran other shapes (``set_input_shape`` may change the context's internal state the graph
baked in). So a shape change destroys the graph, and the new shape is captured afresh; a stream that
keeps one batch size captures once.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from edgefashion.errors import BackendUnavailable, ModelFileError
from edgefashion.runtime.tensorrt.buffers import BufferPlan, plan_buffers
from edgefashion.runtime.tensorrt.profiles import BatchRange
from edgefashion.runtime.tensorrt.tensor_io import engine_io

log = logging.getLogger("edgefashion.runtime.tensorrt")


class GraphCache:
    """One CUDA graph for one tuple of input shapes; ``destroy`` frees a graph."""

    def __init__(self, destroy: Callable[[object], None]) -> None:
        self._destroy = destroy
        self.key: tuple | None = None
        self.graph = None

    def get(self, key: tuple):
        """The graph captured at ``key``, or None (the caller captures and ``put``s it)."""
        return self.graph if self.key == key else None

    def put(self, key: tuple, graph) -> None:
        self.clear()
        self.key, self.graph = key, graph

    def clear(self) -> None:
        graph, self.key, self.graph = self.graph, None, None
        if graph is not None:
            self._destroy(graph)


class LoadedEngine:
    """Deserialize ``plan`` and allocate its I/O. ``dla_core``: the DLA core the engine was built for
    (set on the runtime before deserializing, as trtexec does; None for GPU engines)."""

    def __init__(self, trt, cuda, plan: bytes, logger, named_tensors: bool, name: str,
                 dla_core: int | None = None, deserialize_error: Callable[[], str] | None = None) -> None:
        self.cuda, self.name = cuda, name
        self.runtime = self.engine = self.context = self.io = None
        self.stream = None
        self.host: dict[str, np.ndarray] = {}
        self.dev: dict[str, int] = {}
        self.graphs = GraphCache(cuda.destroy_graph if hasattr(cuda, "destroy_graph") else (lambda g: None))
        try:
            self._deserialize(trt, plan, logger, named_tensors, dla_core, deserialize_error)
            self._allocate()
        except BaseException:
            self.close()
            raise

    def _deserialize(self, trt, plan: bytes, logger, named_tensors: bool, dla_core, deserialize_error) -> None:
        self.runtime = trt.Runtime(logger)
        if dla_core is not None:
            self.runtime.DLA_core = int(dla_core)  # before deserializing, or the engine lands on core 0
        self.engine = self.runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise ModelFileError(deserialize_error() if deserialize_error else
                                 f"TensorRT could not deserialize {self.name!r}")
        self.io = engine_io(trt, self.engine, named_tensors)
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise BackendUnavailable(f"TensorRT could not create an execution context for {self.name!r} "
                                     "(out of GPU memory?)")

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
        self.plan: BufferPlan = plan_buffers(tensors, max_shapes)
        first = self.plan.inputs[0]
        lo = self.io.profile(first.name)[0] if first.shape[0] < 0 else first.max_shape
        self.limits = BatchRange(int(lo[0]), int(lo[0]), int(first.max_shape[0]))
        self.stream = self.cuda.stream()
        for t in self.plan.tensors:
            # each buffer is recorded as soon as it exists, so close() frees it if a later one fails
            self.host[t.name] = self.cuda.malloc_host(t.alloc_bytes)
            self.dev[t.name] = self.cuda.malloc(t.alloc_bytes)
            self.io.bind(self.context, t.name, self.dev[t.name])
        log.info("TensorRT buffers for %s:\n%s", self.name, self.plan.describe())

    def close(self) -> None:
        """Free the graph, the buffers and the stream; drop the context, engine and runtime (idempotent)."""
        errors = []
        for step in (self.graphs.clear, self._free_buffers, self._destroy_stream):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - free the rest, then report the first failure
                errors.append(e)
        # the context first, then the engine, then the runtime; the I/O helper holds the engine too
        self.context = self.io = None
        self.engine = None
        self.runtime = None
        if errors:
            raise errors[0]

    def _free_buffers(self) -> None:
        while self.dev:
            self.cuda.free(self.dev.popitem()[1])
        while self.host:
            self.cuda.free_host(self.host.popitem()[1])

    def _destroy_stream(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            self.cuda.destroy_stream(stream)
