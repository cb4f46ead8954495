"""The Backend base class and the name / suffix registry.

A backend turns a model file into ``infer(dict[str, np.ndarray]) -> dict[str, np.ndarray]``.
One file per runtime; each imports its runtime package lazily, so that importing this module (and
``import edgefashion``) loads nothing heavy. A missing package raises BackendUnavailable saying what
to install.
"""
from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Mapping, NamedTuple

import numpy as np

from edgefashion.errors import BackendUnavailable, ModelFileError, ShapeError, unknown_name


class TensorSpec(NamedTuple):
    """Shape (None for a dynamic dimension) and numpy dtype of one model input or output."""

    shape: tuple
    dtype: np.dtype


class Backend(ABC):
    """One model loaded in one runtime.

    Subclasses set ``name`` and ``install_hint`` (file suffixes live in ``SUFFIXES``), implement ``is_available``,
    ``__init__(path, device=None, **options)`` and ``infer``, and fill ``input_specs``,
    ``output_specs`` and ``metadata`` while loading.
    """

    name: ClassVar[str] = ""
    install_hint: ClassVar[str] = ""

    path: Path
    device: str
    input_specs: dict[str, TensorSpec]
    output_specs: dict[str, TensorSpec]
    metadata: dict | None

    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """True when this runtime's package can be imported here."""

    @classmethod
    def load(cls, path: str | Path, **options) -> "Backend":
        """Open ``path``; ``options`` are the backend's keyword arguments (device, providers, ...)."""
        return cls(path, **options)

    @abstractmethod
    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model. ``inputs``: name -> array, e.g. {"image": (N, 3, S, S) float32}."""

    @property
    def output_names(self) -> list[str]:
        return list(self.output_specs)

    @property
    def input_names(self) -> list[str]:
        return list(self.input_specs)

    def dummy_inputs(self, batch: int = 1) -> dict[str, np.ndarray]:
        """Zeros matching ``input_specs``, with dynamic dimensions set to ``batch`` (first) or 1."""
        out = {}
        for name, spec in self.input_specs.items():
            shape = [d if isinstance(d, int) else (batch if i == 0 else 1)
                     for i, d in enumerate(spec.shape)]
            out[name] = np.zeros(shape, dtype=spec.dtype)
        return out

    def warmup(self, n: int = 1, batch: int = 1) -> None:
        """Run ``n`` inferences on zeros so that lazy initialisation is not timed later."""
        feeds = self.dummy_inputs(batch)
        for _ in range(max(0, int(n))):
            self.infer(feeds)

    def check_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Names, ranks, static dims and dtype of ``inputs`` against ``input_specs``."""
        missing = [n for n in self.input_specs if n not in inputs]
        extra = [n for n in inputs if n not in self.input_specs]
        if missing or extra:
            raise ShapeError(
                f"{self.name} model {self.path.name!r} takes inputs {self.input_names}; "
                f"got {sorted(inputs)} (missing {missing}, unexpected {extra})"
            )
        out = {}
        for name, spec in self.input_specs.items():
            arr = np.asarray(inputs[name])
            ok = arr.ndim == len(spec.shape) and all(
                not isinstance(d, int) or d == s for d, s in zip(spec.shape, arr.shape)
            )
            if not ok:
                raise ShapeError(
                    f"input {name!r} of {self.path.name!r} has shape {arr.shape}; the model expects "
                    f"{_shape_str(spec.shape)}"
                )
            out[name] = np.ascontiguousarray(arr, dtype=spec.dtype)
        return out

    def close(self) -> None:
        """Release runtime resources (sessions, contexts). Safe to call twice."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}{_shape_str(s.shape)}" for n, s in self.input_specs.items())
        return f"{type(self).__name__}({str(self.path)!r}, device={self.device!r}, inputs: {ins})"


def _shape_str(shape) -> str:
    return "(" + ", ".join("?" if not isinstance(d, int) else str(d) for d in shape) + ")"


def check_model_file(path: str | Path) -> Path:
    """The path as a Path, or ModelFileError when it does not exist."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"model file {str(p)!r} does not exist (or is not a file)")
    return p


def module_available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, backend: str, hint: str):
    """Import ``module`` or raise BackendUnavailable with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise BackendUnavailable(
            f"the {backend} backend needs the Python package {module!r}, which is not installed "
            f"({e}); {hint}"
        ) from e


# ---------------------------------------------------------------------- registry
# name -> "module:Class"; classes are imported on first use so the registry costs nothing.
BACKENDS: dict[str, str] = {
    "onnxruntime": "edgefashion.runtime.backends.onnxruntime:OnnxRuntimeBackend",
    "pytorch": "edgefashion.runtime.backends.pytorch:PyTorchBackend",
    "tensorrt": "edgefashion.runtime.backends.tensorrt:TensorRTBackend",
}
SUFFIXES: dict[str, str] = {
    ".onnx": "onnxruntime",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".engine": "tensorrt",
    ".plan": "tensorrt",
}
ALIASES: dict[str, str] = {"ort": "onnxruntime", "onnx": "onnxruntime", "torch": "pytorch",
                           "trt": "tensorrt"}


def list_backends() -> list[str]:
    return list(BACKENDS)


def get_backend(name: str) -> type[Backend]:
    """The Backend class registered under ``name`` (or an alias such as "ort", "torch", "trt")."""
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in BACKENDS:
        raise unknown_name("backend", str(name), BACKENDS)
    module, cls = BACKENDS[key].split(":")
    return getattr(importlib.import_module(module), cls)


def backend_name_for(path: str | Path) -> str:
    """The backend name for a model file, from its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ModelFileError(
            f"cannot tell which runtime serves {str(path)!r} from its suffix {suffix or '(none)'!r}; "
            f"known suffixes: {', '.join(SUFFIXES)}; rename the file or pass backend="
            f"{'|'.join(BACKENDS)}"
        )
    return SUFFIXES[suffix]


def available_backends() -> dict[str, bool]:
    """name -> whether its runtime package is importable here."""
    return {name: get_backend(name).is_available() for name in BACKENDS}


def load_backend(path: str | Path, backend: str = "auto", **options) -> Backend:
    """Open ``path`` with the named backend, or the one its suffix implies (``backend="auto"``)."""
    path = check_model_file(path)
    name = backend_name_for(path) if backend in (None, "auto") else backend
    return get_backend(name).load(path, **options)
