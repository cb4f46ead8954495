"""Which TensorRT is here and what it can do: versions, the feature table, the import and the logger.

TensorRT versions in the field (see DESIGN.md): 8.5 (JetPack 5), 8.6 / 10.x (JetPack 6, desktop), 11.x
(desktop). The differences that matter to the builder and the backend:

- 8.5+: the named-tensor API (``num_io_tensors``, ``set_input_shape``, ``set_tensor_address``,
  ``execute_async_v3``); older versions only have the bindings API (``num_bindings``, ``execute_async_v2``).
- 10+: strongly typed networks (precision from the ONNX graph); ``IProgressMonitor``; the ONNX parser
  reports the failing node's name and op.
- <= 10: weak typing (``BuilderFlag.FP16`` / ``INT8``) and INT8 calibrators. 11 removed both.
- < 10: networks need ``EXPLICIT_BATCH``; 11 removed the flag.
- 8.6+: ``IPluginRegistry.load_library``; before that a plugin library is loaded with ``ctypes.CDLL``.

``features_for_version`` is the table; ``probe_features`` refines it with ``hasattr`` on the real module.
The table is one record of what the installed TensorRT offers: the backend reads the loading features
(``named_tensors``, ``registry_load_library``) and the builder, which imports this module, the rest.
Every TensorRT attribute the builder and the backend touch is listed in ``edgefashion.engine.trt_compat``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import NamedTuple

from edgefashion.errors import BackendUnavailable, BadInput

MIN_SUPPORTED = (8, 5)      # building engines
MIN_RUNTIME = (8, 2)        # running engines: TensorRT < 8.5 (JetPack 4.6) through the bindings API

INSTALL_HINT = (
    "install TensorRT's Python bindings: on a desktop / server GPU `pip install tensorrt` (or "
    "tensorrt-cu12 / tensorrt-cu13 to match your CUDA; NVIDIA GPU and driver needed) plus "
    "`pip install cuda-python`; on Jetson they come with JetPack (`sudo apt install python3-libnvinfer` "
    "and create your virtualenv with --system-site-packages). Or run the model's .onnx with ONNX Runtime"
)


class TrtVersion(NamedTuple):
    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def parse_version(text: str) -> TrtVersion:
    """'10.3.0.26' / '8.6.1.post1' / '11.0' -> TrtVersion(major, minor, patch)."""
    m = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", str(text))
    if not m:
        raise BadInput(f"TensorRT version {text!r} is not of the form MAJOR.MINOR[.PATCH]")
    return TrtVersion(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def same_engine_version(a: str, b: str) -> bool:
    """Whether an engine built with TensorRT ``a`` can be deserialized by ``b`` (major.minor.patch equal)."""
    return parse_version(a) == parse_version(b)


@dataclass(frozen=True)
class TrtFeatures:
    """What one TensorRT version offers the builder and the backend."""

    version: TrtVersion
    named_tensors: bool          # num_io_tensors / set_input_shape / set_tensor_address / execute_async_v3
    strongly_typed: bool         # NetworkDefinitionCreationFlag.STRONGLY_TYPED exists (10+; always on in 11)
    always_strongly_typed: bool  # 11+: weak typing is gone; STRONGLY_TYPED is deprecated and ignored
    weak_typing: bool            # BuilderFlag.FP16 / INT8 exist (<= 10)
    calibrators: bool            # IInt8EntropyCalibrator2 and config.int8_calibrator exist (<= 10)
    explicit_batch_flag: bool    # create_network needs EXPLICIT_BATCH (< 10)
    progress_monitor: bool       # IProgressMonitor / config.progress_monitor (10+)
    registry_load_library: bool  # IPluginRegistry.load_library (8.6+)
    parser_node_names: bool      # ParserError.node_name() / node_operator() (10+)

    @property
    def major(self) -> int:
        return self.version.major

    def to_dict(self) -> dict:
        d = asdict(self)
        d["version"] = str(self.version)
        return d


def features_for_version(version: str | TrtVersion) -> TrtFeatures:
    """The feature table for a TensorRT version string (no TensorRT needed)."""
    v = version if isinstance(version, TrtVersion) else parse_version(version)
    return TrtFeatures(
        version=v,
        named_tensors=v >= (8, 5),
        strongly_typed=v.major >= 10,
        always_strongly_typed=v.major >= 11,
        weak_typing=v.major <= 10,
        calibrators=v.major <= 10,
        explicit_batch_flag=v.major < 10,
        progress_monitor=v.major >= 10,
        registry_load_library=v >= (8, 6),
        parser_node_names=v.major >= 10,
    )


def probe_features(trt) -> TrtFeatures:
    """The features of the imported ``tensorrt`` module: the version table, confirmed with hasattr."""
    f = features_for_version(trt.__version__)
    flags = getattr(trt, "NetworkDefinitionCreationFlag", None)
    builder_flags = getattr(trt, "BuilderFlag", None)
    return TrtFeatures(
        version=f.version,
        named_tensors=f.named_tensors and hasattr(trt.ICudaEngine, "num_io_tensors"),
        strongly_typed=f.strongly_typed and hasattr(flags, "STRONGLY_TYPED"),
        always_strongly_typed=f.always_strongly_typed or not hasattr(builder_flags, "FP16"),
        weak_typing=f.weak_typing and hasattr(builder_flags, "FP16"),
        calibrators=f.calibrators and hasattr(trt, "IInt8EntropyCalibrator2"),
        explicit_batch_flag=f.explicit_batch_flag and hasattr(flags, "EXPLICIT_BATCH"),
        progress_monitor=f.progress_monitor and hasattr(trt, "IProgressMonitor"),
        registry_load_library=f.registry_load_library and hasattr(trt.IPluginRegistry, "load_library"),
        parser_node_names=f.parser_node_names and hasattr(trt.ParserError, "node_name"),
    )


def import_tensorrt(purpose: str = "run TensorRT engines", minimum: tuple = MIN_SUPPORTED):
    """``import tensorrt`` or BackendUnavailable saying how to install it; refuses versions < ``minimum``."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise BackendUnavailable(f"TensorRT is not installed, so edgefashion cannot {purpose} here "
                                 f"({e}); {INSTALL_HINT}") from e
    version = parse_version(getattr(trt, "__version__", "0.0"))
    if version < tuple(minimum):
        raise BackendUnavailable(
            f"TensorRT {version} is too old to {purpose}: edgefashion needs TensorRT "
            f"{'.'.join(map(str, minimum))} or newer; upgrade TensorRT (JetPack 5+), or run the model's .onnx "
            "with ONNX Runtime"
        )
    return trt


LOG_LEVELS = {"error": "ERROR", "warning": "WARNING", "info": "INFO", "verbose": "VERBOSE"}


_LOGGER: dict = {}  # "logger" -> the one trt.Logger of this process


def make_logger(trt, level: str = "warning"):
    """The process's one ``trt.Logger``, set to ``level`` (error | warning | info | verbose).

    One logger for the whole process, never a temporary: ``init_libnvinfer_plugins`` (libnvinfer_plugin)
    keeps the logger it is given as a raw global pointer, and Builder / Runtime keep theirs, so a logger
    that Python frees while TensorRT still holds it is a use-after-free. A later call with another level
    changes ``min_severity`` of the same logger.
    """
    if level not in LOG_LEVELS:
        raise BadInput(f"log level {level!r} must be one of {', '.join(LOG_LEVELS)}")
    severity = getattr(trt.Logger, LOG_LEVELS[level])
    logger = _LOGGER.get("logger")
    if logger is None:
        logger = _LOGGER["logger"] = trt.Logger(severity)
    else:
        logger.min_severity = severity
    return logger
