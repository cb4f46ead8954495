"""ONNX Runtime backend: the CPU default, and CUDA / TensorRT execution providers where installed."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgefashion.errors import BackendError, BackendUnavailable, BadInput, ModelFileError, ShapeError
from edgefashion.runtime.backends.base import (Backend, TensorSpec, check_model_file,
                                               module_available, require)
from edgefashion.runtime.metadata import METADATA_KEY, onnx_metadata_props, parse_metadata

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "gpu": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
}
_PROVIDER_PACKAGES = {
    "CUDAExecutionProvider": "pip install onnxruntime-gpu (and a CUDA runtime matching it)",
    "TensorrtExecutionProvider": "pip install onnxruntime-gpu and TensorRT, or use the .engine path",
    "OpenVINOExecutionProvider": "pip install onnxruntime-openvino",
    "DmlExecutionProvider": "pip install onnxruntime-directml",
}
_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
              "tensor(double)": np.float64, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
              "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}
INSTALL = "pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA)"


def resolve_providers(providers: Sequence | str | None, device: str | None,
                      available: Sequence[str]) -> list:
    """Execution providers in priority order, CPU last as fallback.

    ``providers``: ORT names or aliases ("cpu", "cuda", "tensorrt"), or (name, options) pairs.
    ``device``: "cpu" / "cuda" / "cuda:1" picks CPU or CUDA (on that GPU) when no providers are given.
    """
    if providers is None:
        dev = (device or "cpu").lower()
        if dev == "cpu":
            providers = ["CPUExecutionProvider"]
        elif dev.startswith(("cuda", "tensorrt")):
            index = int(dev.split(":")[1]) if ":" in dev else 0
            providers = [("CUDAExecutionProvider", {"device_id": index})]
            if dev.startswith("tensorrt"):
                providers.insert(0, ("TensorrtExecutionProvider", {"device_id": index}))
        else:
            raise BadInput(f"device {device!r} is not one of 'cpu', 'cuda[:N]', 'tensorrt[:N]' for ONNX Runtime")
    elif isinstance(providers, (str, tuple)):
        providers = [providers]
    out = []
    for p in providers:
        name, opts = (p if isinstance(p, tuple) else (p, None))
        name = PROVIDER_ALIASES.get(str(name).lower(), str(name))
        if name not in available:
            hint = _PROVIDER_PACKAGES.get(name, "check the name")
            raise BackendUnavailable(
                f"ONNX Runtime execution provider {name!r} is not available here "
                f"(available: {', '.join(available)}); {hint}"
            )
        out.append((name, opts) if opts else name)
    names = [p[0] if isinstance(p, tuple) else p for p in out]
    trt, cuda = "TensorrtExecutionProvider", "CUDAExecutionProvider"
    if trt in names and cuda not in names and cuda in available:  # nodes TensorRT cannot take run on CUDA
        out.insert(names.index(trt) + 1, cuda)
    if "CPUExecutionProvider" not in names:
        out.append("CPUExecutionProvider")
    return out


def check_started(requested: Sequence, used: Sequence[str], model: str = "the model") -> None:
    """ONNX Runtime falls back to the CPU, with only a log line, when a GPU provider it lists cannot
    start (CUDA / cuDNN / TensorRT libraries missing or mismatched); make that a BackendUnavailable."""
    names = [p[0] if isinstance(p, tuple) else p for p in requested]
    missing = [n for n in names if n != "CPUExecutionProvider" and n not in used]
    if missing:
        raise BackendUnavailable(
            f"ONNX Runtime offers {', '.join(missing)} but could not start it for {model} (it would run on "
            f"{', '.join(used) or 'nothing'} instead): the CUDA / cuDNN / TensorRT libraries this "
            "onnxruntime-gpu build needs are missing or of another version; install the matching ones "
            "(onnxruntime.ai, 'Install ONNX Runtime GPU') or use device='cpu'"
        )


class OnnxRuntimeBackend(Backend):
    """An ``.onnx`` model in an ``onnxruntime.InferenceSession``.

    Options: ``providers`` (see ``resolve_providers``), ``device``, ``threads`` (intra-op threads;
    None = ORT's default), ``optimization`` ("disable" | "basic" | "extended" | "all"),
    ``session_config`` (ORT session config entries, e.g. {"session.qdqisint8allowed": "1"}).
    """

    name = "onnxruntime"
    install_hint = INSTALL

    @classmethod
    def is_available(cls) -> bool:
        return module_available("onnxruntime")

    def __init__(self, path: str | Path, device: str | None = None,
                 providers: Sequence | str | None = None, threads: int | None = None,
                 optimization: str = "all", session_config: Mapping[str, str] | None = None,
                 **options) -> None:
        if options:
            raise BadInput(f"unknown ONNX Runtime backend options {sorted(options)}; "
                           "valid: device, providers, threads, optimization, session_config")
        ort = require("onnxruntime", self.name, INSTALL)
        self.path = check_model_file(path)
        props = onnx_metadata_props(self.path)  # ModelFileError when not an ONNX model
        self.metadata = parse_metadata(props[METADATA_KEY], repr(str(self.path))) \
            if METADATA_KEY in props else None
        self.providers = resolve_providers(providers, device, ort.get_available_providers())
        opts = ort.SessionOptions()
        if optimization not in _OPT_LEVELS:
            raise BadInput(f"optimization {optimization!r} must be one of {', '.join(_OPT_LEVELS)}")
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _OPT_LEVELS[optimization])
        if threads is not None:
            if int(threads) < 1:
                raise BadInput(f"threads={threads} must be at least 1 (or None for ORT's default)")
            opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 3  # errors only; warnings about providers are ours to report
        for key, value in dict(session_config or {}).items():
            opts.add_session_config_entry(str(key), str(value))
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts,
                                                providers=self.providers)
        except Exception as e:  # ORT raises its own pybind exception types
            raise ModelFileError(
                f"ONNX Runtime cannot load {str(self.path)!r}: {_first_line(e)}; re-export the "
                "model, or check that its opset is supported by this onnxruntime version"
            ) from e
        used = self.session.get_providers()
        check_started(self.providers, used, repr(str(self.path)))
        self.device = "cuda" if any(p != "CPUExecutionProvider" for p in used) else "cpu"
        self.input_specs = {i.name: _spec(i) for i in self.session.get_inputs()}
        self.output_specs = {o.name: _spec(o) for o in self.session.get_outputs()}

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = self.check_inputs(inputs)
        try:
            values = self.session.run(self.output_names, feeds)
        except Exception as e:
            shapes = {k: v.shape for k, v in feeds.items()}
            if type(e).__name__ == "InvalidArgument":  # ORT's own input validation: the caller's
                raise ShapeError(f"ONNX Runtime refused inputs {shapes} for {self.path.name!r}: "
                                 f"{_first_line(e)}") from e
            raise BackendError(
                f"ONNX Runtime failed running {self.path.name!r} on inputs {shapes} that match its "
                f"declared inputs: {_first_line(e)}; a runtime or model fault (memory, provider, "
                "graph), not the input's") from e
        return dict(zip(self.output_names, values))

    def close(self) -> None:
        self.session = None


def _spec(node) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else None for d in node.shape)
    return TensorSpec(shape, np.dtype(_ORT_TYPES.get(node.type, np.float32)))


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
