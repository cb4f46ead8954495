"""The Backend base class and the name / suffix registry.

A backend turns a model file into ``infer(dict[str, np.ndarray]) -> dict[str, np.ndarray]``.
One file per runtime; each imports its runtime package lazily, so that importing this module (and
``import edgefashion``) loads nothing heavy. A missing package raises BackendUnavailable saying what
to install.
"""
from __future__ import annotations

import importlib
import importlib.util
import platform
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Mapping, NamedTuple

import numpy as np

from edgefashion.errors import (BackendUnavailable, BadInput, ModelFileError, ShapeError,
                               unknown_name)


class TensorSpec(NamedTuple):
    """Shape (None for a dynamic dimension) and numpy dtype of one model input or output."""

    shape: tuple
    dtype: np.dtype


class Backend(ABC):
    """One model loaded in one runtime.

    Subclasses set ``name`` and ``install_hint`` (suffixes and aliases live in ``REGISTRY``), implement
    ``is_available``, ``__init__(path, device=None, **options)`` and ``infer``, and fill
    ``input_specs``, ``output_specs`` and ``metadata`` while loading; ``spec_options`` turns a
    ``name:tail`` spec ("openvino:bf16") into options.
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
    def spec_options(cls, tail: str) -> dict:
        """The options a ``name:tail`` backend spec stands for; backends without such tails refuse."""
        raise BadInput(f"backend {cls.name!r} takes no ':{tail}' option; pass its options as keywords "
                       f"(e.g. device=...) instead")

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
@dataclass(frozen=True)
class BackendEntry:
    """One runtime in the table: where its class lives ("module:Class", imported on first use so the
    table costs nothing), the file suffixes it opens (``auto`` picks the first available backend
    listing a suffix; see ``AUTO_ORDER``) and its short names."""

    target: str
    suffixes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


# The one table of backends, by import path: one file each under edgefashion/runtime/backends/, but
# PyTorch's, which rebuilds models from checkpoints and so sits above them (edgefashion/pytorch_backend.py,
# outside the models package so that checking it is available imports no torch; the runtime sits
# below the models and never imports them).
REGISTRY: dict[str, BackendEntry] = {
    "onnxruntime": BackendEntry("edgefashion.runtime.backends.onnxruntime:OnnxRuntimeBackend",
                                (".onnx",), ("ort", "onnx")),
    "openvino": BackendEntry("edgefashion.runtime.backends.openvino:OpenVINOBackend",
                             (".onnx", ".xml"), ("ov",)),
    "pytorch": BackendEntry("edgefashion.pytorch_backend:PyTorchBackend",
                            (".pt", ".pth"), ("torch",)),
    "tensorrt": BackendEntry("edgefashion.runtime.backends.tensorrt:TensorRTBackend",
                             (".engine", ".plan"), ("trt",)),
}
# Which backend ``auto`` picks for a suffix several backends open, first available wins. ``.onnx``:
# ONNX Runtime, the portable default (an fp32 ONNX runs no faster on OpenVINO f32 on x86; bf16 is a
# numeric change the user opts into with "openvino:bf16"); an int8 Q/DQ ONNX goes to OpenVINO on x86
# when it is installed: it runs the TensorRT-layout Q/DQ file with VNNI int8 kernels, where ONNX
# Runtime gains nothing from it. Measured: benchmarks/results/openvino_*.json, README "CPU backends".
AUTO_ORDER: dict[str, tuple[str, ...]] = {".onnx": ("onnxruntime", "openvino")}
AUTO_INT8_ONNX = ("openvino", "onnxruntime")
X86 = ("x86_64", "amd64", "i686", "x86")

# Derived views, kept for callers of the old three tables.
BACKENDS: dict[str, str] = {name: e.target for name, e in REGISTRY.items()}
SUFFIXES: dict[str, str] = {}
for _name, _entry in REGISTRY.items():
    for _s in _entry.suffixes:
        SUFFIXES.setdefault(_s, AUTO_ORDER.get(_s, (_name,))[0])
ALIASES: dict[str, str] = {a: name for name, e in REGISTRY.items() for a in e.aliases}


def list_backends() -> list[str]:
    return list(REGISTRY)


BACKEND_HELP = ("auto (from the suffix: .onnx -> onnxruntime, an int8 Q/DQ .onnx -> openvino on x86 "
                "when installed, .xml -> openvino, .pt -> pytorch, .engine -> tensorrt), onnxruntime, "
                "openvino (precision hint: openvino:bf16 / openvino:f16), pytorch or tensorrt")


def split_backend_spec(spec: str) -> tuple[str, str]:
    """``"openvino:bf16"`` -> ("openvino", "bf16"); ``"ort"`` -> ("onnxruntime", "")."""
    name, _, rest = str(spec).strip().partition(":")
    key = ALIASES.get(name.lower(), name.lower())
    return key, rest.strip()


def get_backend(name: str) -> type[Backend]:
    """The Backend class registered under ``name`` (or an alias such as "ort", "ov", "torch", "trt";
    a ``:option`` tail such as "openvino:bf16" is ignored here, see ``backend_options``)."""
    key, _ = split_backend_spec(name)
    if key not in REGISTRY:
        raise unknown_name("backend", str(name), REGISTRY)
    module, cls = REGISTRY[key].target.split(":")
    return getattr(importlib.import_module(module), cls)


def backend_options(spec: str) -> dict:
    """The options a ``name:tail`` spec stands for: ``"openvino:bf16"`` -> {"precision": "bf16"}."""
    key, tail = split_backend_spec(spec)
    if not tail:
        return {}
    return get_backend(key).spec_options(tail)


def backend_name_for(path: str | Path, prefer_available: bool = False) -> str:
    """The backend name for a model file, from its suffix (and, with ``prefer_available``, from what is
    installed here and, for ``.onnx``, whether it is an int8 Q/DQ file on an x86 CPU)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ModelFileError(
            f"cannot tell which runtime serves {str(path)!r} from its suffix {suffix or '(none)'!r}; "
            f"known suffixes: {', '.join(SUFFIXES)}; rename the file or pass backend="
            f"{'|'.join(REGISTRY)}"
        )
    if not prefer_available:
        return SUFFIXES[suffix]
    if suffix == ".onnx":
        from edgefashion.runtime.metadata import onnx_file_precision

        return auto_onnx_backend(onnx_file_precision(path))
    return _first_available(AUTO_ORDER.get(suffix, (SUFFIXES[suffix],)))


def auto_onnx_backend(precision: str | None) -> str:
    """The backend ``auto`` runs a ``.onnx`` of this precision ("fp32", "fp16", "int8") with here."""
    int8_x86 = precision == "int8" and platform.machine().lower() in X86
    return _first_available(AUTO_INT8_ONNX if int8_x86 else AUTO_ORDER[".onnx"])


def _first_available(order: tuple[str, ...]) -> str:
    for name in order:
        if get_backend(name).is_available():
            return name
    return order[0]  # not installed: its backend raises BackendUnavailable with the install hint


def available_backends() -> dict[str, bool]:
    """name -> whether its runtime package is importable here."""
    return {name: get_backend(name).is_available() for name in REGISTRY}


def load_backend(path: str | Path, backend: str = "auto", **options) -> Backend:
    """Open ``path`` with the named backend (``"openvino:bf16"`` style tails allowed), or the one its
    suffix implies (``backend="auto"``: see ``AUTO_ORDER``). Options given explicitly win over a tail."""
    path = check_model_file(path)
    if backend in (None, "auto"):
        name = backend_name_for(path, prefer_available=not _cuda_asked(options))
        return get_backend(name).load(path, **options)
    return get_backend(backend).load(path, **{**backend_options(backend), **options})


def _cuda_asked(options: Mapping) -> bool:
    """CUDA devices and ORT providers only ONNX Runtime takes: auto then stays on the suffix default."""
    return "providers" in options or "optimization" in options or \
        str(options.get("device") or "").lower().startswith(("cuda", "tensorrt"))
