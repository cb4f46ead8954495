"""The few CUDA runtime calls the engine backend needs, over cuda-python or pycuda (thin).

cuda-python (``cuda.bindings.runtime``, or the older ``cuda.cudart``) is preferred: it uses the
device's primary context, so any thread may call it. pycuda is the fallback; its context is pushed
around every call. Pointers and streams are plain ints, so TensorRT takes them directly.
"""
from __future__ import annotations

import ctypes
import importlib
import threading
from contextlib import contextmanager

import numpy as np

from edgefashion.errors import BackendUnavailable, EdgeFashionError

INSTALL = ("pip install cuda-python (its major version must match your driver's CUDA: cuda-python==12.* "
           "for CUDA 12 / JetPack 6, 13.* for CUDA 13), or pip install pycuda")


class CudaError(EdgeFashionError, RuntimeError):
    """A CUDA runtime call failed (out of memory, no device, a bad launch)."""


def _import_cudart():
    for name in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


class CudaRuntime:
    """cuda-python's runtime API. ``CudaRuntime(device)`` selects the device (BackendUnavailable when
    there is none)."""

    library = "cuda-python"

    def __init__(self, device: int = 0, rt=None) -> None:
        self.rt = rt or _import_cudart()
        if self.rt is None:
            raise BackendUnavailable(f"the TensorRT backend needs cuda-python or pycuda for GPU memory; {INSTALL}")
        self.device = int(device)
        count = self._call("cudaGetDeviceCount", no_device_ok=True)
        if not count:
            raise BackendUnavailable(
                f"no usable NVIDIA GPU: {self._last_error}; TensorRT engines need an NVIDIA GPU with a driver "
                "new enough for this CUDA runtime (run the model's .onnx with ONNX Runtime on the CPU instead)"
            )
        if self.device >= count:
            raise BackendUnavailable(f"GPU {self.device} was asked for, but this machine has {count}")
        self._call("cudaSetDevice", self.device)

    _last_error = ""

    def _call(self, name: str, *args, no_device_ok: bool = False):
        out = getattr(self.rt, name)(*args)
        err, rest = out[0], out[1:]
        if int(err) != 0:
            msg = self.rt.cudaGetErrorString(err)[1]
            msg = msg.decode() if isinstance(msg, bytes) else str(msg)
            self._last_error = f"{name}: {msg}"
            if no_device_ok:
                return 0
            raise CudaError(f"CUDA call {name} failed: {msg}")
        return rest[0] if len(rest) == 1 else (rest or None)

    @contextmanager
    def active(self):
        """Make this device current in the calling thread (the runtime API's contexts are per device)."""
        self._call("cudaSetDevice", self.device)
        yield

    def device_info(self) -> tuple[str, str]:
        """(name, compute capability 'major.minor') of the selected GPU."""
        prop = self._call("cudaGetDeviceProperties", self.device)
        name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
        return name.rstrip("\x00").strip(), f"{prop.major}.{prop.minor}"

    def malloc(self, nbytes: int) -> int:
        return int(self._call("cudaMalloc", int(nbytes)))

    def free(self, ptr: int) -> None:
        self._call("cudaFree", ptr)

    def malloc_host(self, nbytes: int) -> np.ndarray:
        """Pinned host memory as a uint8 numpy array (freed with ``free_host``)."""
        ptr = int(self._call("cudaMallocHost", int(nbytes)))
        return np.ctypeslib.as_array((ctypes.c_uint8 * int(nbytes)).from_address(ptr))

    def free_host(self, arr: np.ndarray) -> None:
        self._call("cudaFreeHost", arr.ctypes.data)

    def stream(self) -> int:
        return int(self._call("cudaStreamCreateWithFlags", self.rt.cudaStreamNonBlocking))

    def destroy_stream(self, stream: int) -> None:
        self._call("cudaStreamDestroy", stream)

    def htod_async(self, dst: int, src: np.ndarray, stream: int) -> None:
        self._call("cudaMemcpyAsync", dst, src.ctypes.data, src.nbytes,
                   self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream)

    def dtoh_async(self, dst: np.ndarray, src: int, stream: int) -> None:
        self._call("cudaMemcpyAsync", dst.ctypes.data, src, dst.nbytes,
                   self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream)

    def memcpy_htod(self, dst: int, src: np.ndarray) -> None:
        self._call("cudaMemcpy", dst, src.ctypes.data, src.nbytes, self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice)

    def synchronize(self, stream: int) -> None:
        self._call("cudaStreamSynchronize", stream)

    # CUDA graphs: capture the enqueue of one fixed-shape inference, replay it with one launch.
    def begin_capture(self, stream: int) -> None:
        self._call("cudaStreamBeginCapture", stream,
                   self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal)

    def end_capture(self, stream: int):
        graph = self._call("cudaStreamEndCapture", stream)
        try:
            return self._instantiate(graph)
        finally:
            self._call("cudaGraphDestroy", graph)

    def _instantiate(self, graph):
        """The executable graph. ``cudaGraphInstantiateWithFlags(graph, flags)`` has one signature from CUDA
        11.4 (JetPack 5) on; ``cudaGraphInstantiate`` does not: cuda-python 11.x binds the CUDA 11 C call
        ``(graph, logBuffer, bufferSize) -> (err, exec, errorNode)``, 12.x / 13.x ``(graph, flags) -> (err,
        exec)``."""
        if hasattr(self.rt, "cudaGraphInstantiateWithFlags"):
            return self._first(self._call("cudaGraphInstantiateWithFlags", graph, 0))
        try:
            return self._first(self._call("cudaGraphInstantiate", graph, 0))
        except TypeError:  # cuda-python 11.x without WithFlags: the CUDA 11 signature
            return self._first(self._call("cudaGraphInstantiate", graph, b"", 0))

    @staticmethod
    def _first(result):
        """cuda-python 11.x also returns the error node: keep the executable graph only."""
        return result[0] if isinstance(result, tuple) else result

    def launch_graph(self, graph_exec, stream: int) -> None:
        self._call("cudaGraphLaunch", graph_exec, stream)

    def destroy_graph(self, graph_exec) -> None:
        self._call("cudaGraphExecDestroy", graph_exec)


class PyCudaRuntime:
    """The same calls over pycuda (fallback when cuda-python is not installed). No CUDA graphs."""

    library = "pycuda"

    def __init__(self, device: int = 0) -> None:
        try:
            import pycuda.driver as drv
        except ImportError as e:
            raise BackendUnavailable(f"the TensorRT backend needs cuda-python or pycuda; {INSTALL}") from e
        self.drv = drv
        try:
            drv.init()
            self.dev = drv.Device(int(device))
            self.ctx = self.dev.retain_primary_context()
        except drv.Error as e:
            raise BackendUnavailable(f"no usable NVIDIA GPU {device} for pycuda: {e}") from e
        self._lock = threading.RLock()
        self._streams: dict[int, object] = {}
        self._allocs: dict[int, object] = {}

    @contextmanager
    def active(self):
        with self._lock:
            self.ctx.push()
            try:
                yield
            finally:
                self.drv.Context.pop()

    def device_info(self) -> tuple[str, str]:
        major, minor = self.dev.compute_capability()
        return self.dev.name().strip(), f"{major}.{minor}"

    def malloc(self, nbytes: int) -> int:
        with self.active():
            alloc = self.drv.mem_alloc(int(nbytes))
        self._allocs[int(alloc)] = alloc  # keep the allocation object alive until free()
        return int(alloc)

    def free(self, ptr: int) -> None:
        alloc = self._allocs.pop(int(ptr), None)
        if alloc is not None:
            with self.active():
                alloc.free()

    def malloc_host(self, nbytes: int) -> np.ndarray:
        with self.active():
            return self.drv.pagelocked_empty(int(nbytes), np.uint8)

    def free_host(self, arr: np.ndarray) -> None:
        base = getattr(arr, "base", None)  # pagelocked_empty's HostAllocation
        if hasattr(base, "free"):
            with self.active():
                base.free()

    def stream(self) -> int:
        with self.active():
            s = self.drv.Stream()
        self._streams[s.handle] = s
        return int(s.handle)

    def destroy_stream(self, stream: int) -> None:
        self._streams.pop(int(stream), None)

    def htod_async(self, dst: int, src: np.ndarray, stream: int) -> None:
        with self.active():
            self.drv.memcpy_htod_async(dst, src, self._streams[stream])

    def dtoh_async(self, dst: np.ndarray, src: int, stream: int) -> None:
        with self.active():
            self.drv.memcpy_dtoh_async(dst, src, self._streams[stream])

    def memcpy_htod(self, dst: int, src: np.ndarray) -> None:
        with self.active():
            self.drv.memcpy_htod(dst, src)

    def synchronize(self, stream: int) -> None:
        with self.active():
            self._streams[stream].synchronize()


def open_cuda(device: int = 0, library: str = "auto"):
    """A CudaRuntime (cuda-python) or PyCudaRuntime on ``device``; ``library``: auto | cuda-python | pycuda."""
    if library not in ("auto", "cuda-python", "pycuda"):
        raise BackendUnavailable(f"CUDA library {library!r} must be auto, cuda-python or pycuda")
    if library in ("auto", "cuda-python") and _import_cudart() is not None:
        return CudaRuntime(device)
    if library == "cuda-python":
        raise BackendUnavailable(f"cuda-python is not installed; {INSTALL}")
    return PyCudaRuntime(device)
