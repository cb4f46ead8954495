"""OpenVINO backend: the same ``.onnx`` files (fp32, and the int8 Q/DQ file as it is), or OpenVINO IR.

    b = OpenVINOBackend("model.onnx")                             # CPU, fp32, latency hint
    b = OpenVINOBackend("model.int8.onnx", precision="bf16")      # int8 Q/DQ + bf16 for the rest
    b = OpenVINOBackend("model.xml", device="GPU", hint="throughput")
    save_ir("model.onnx", "model.xml")                            # IR with the metadata carried over

Precision is a runtime *hint* (``f32`` | ``bf16`` | ``f16``): no new file, the weights stay as they
are and OpenVINO runs the non-int8 layers in that type where the device has it (AVX-512 BF16 / AMX
on x86; on a CPU without them OpenVINO keeps f32, and ``inference_precision`` says what it chose).
The int8 Q/DQ file from ``edgefashion quantize`` (the TensorRT layout) runs unchanged: OpenVINO
folds the Q/DQ pairs into int8 convolutions (VNNI). A hint loosens the self-test tolerance by the
drift it may add (``HINT_DRIFT``), so ``Predictor(..., self_test=True)`` checks it meaningfully.

IR metadata: ``save_ir`` writes the edgefashion metadata JSON into the IR's ``rt_info`` under
``edgefashion/metadata`` (inside ``model.xml``, so it cannot be separated from the model the way a
sidecar can). One compiled model serves every thread: each ``infer`` takes an idle infer request
from a pool (or creates one), so concurrent calls run in parallel without sharing a request.
openvino is imported on load only.
"""
from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Mapping

import numpy as np

from edgefashion.errors import BackendError, BackendUnavailable, BadInput, ModelFileError
from edgefashion.runtime.backends.base import (Backend, TensorSpec, check_model_file,
                                               module_available, require)
from edgefashion.runtime.metadata import METADATA_KEY, onnx_metadata_props, parse_metadata

INSTALL = "pip install openvino (or 'edgefashion[openvino]')"
RT_INFO_PATH = ["edgefashion", "metadata"]
PRECISIONS = {"f32": "f32", "fp32": "f32", "bf16": "bf16", "f16": "f16", "fp16": "f16"}
HINTS = ("latency", "throughput")
VIRTUAL_DEVICES = ("AUTO", "HETERO", "MULTI", "BATCH")
# What a precision hint may add to the artifact's own self-test tolerance (cosine drop, map error,
# top-1 margin). bf16 keeps 8 mantissa bits; measured on the test MSFANs the logits cosine stays
# above 0.999 with bf16, so these leave about 10x room. f16 gets the same: on x86 CPUs without
# AVX-512 FP16 / AMX-FP16 OpenVINO answers an f16 hint with bf16 (seen on this AMD EPYC).
_BF16_DRIFT = {"cosine": 0.01, "map_abs": 0.06, "margin": 0.08}
HINT_DRIFT = {"f32": {"cosine": 0.0, "map_abs": 0.0, "margin": 0.0},
              "bf16": _BF16_DRIFT, "f16": dict(_BF16_DRIFT)}


def check_precision(precision: str | None) -> str:
    """"f32" / "bf16" / "f16" (also "fp32", "fp16"); None -> "f32"; else BadInput."""
    key = "f32" if precision is None else str(precision).lower()
    if key not in PRECISIONS:
        raise BadInput(f"OpenVINO precision hint {precision!r} must be one of f32, bf16, f16 (e.g. "
                       "backend='openvino:bf16'); an int8 model is its Q/DQ .onnx from `edgefashion quantize`")
    return PRECISIONS[key]


def resolve_device(device: str | None, available: list[str]) -> str:
    """'cpu' / 'CPU', 'GPU[.N]', 'NPU', 'AUTO[:...]', 'HETERO:...', 'MULTI:...' -> the OpenVINO name.

    A device OpenVINO does not know is BadInput, a known one it does not see here BackendUnavailable;
    both list ``available`` (``ov.Core().available_devices``).
    """
    name = "CPU" if device is None else str(device).strip()
    head = name.split(":", 1)[0].upper()
    if head in VIRTUAL_DEVICES:
        return head + name[len(head):]
    name = name.upper()
    base = name.split(".", 1)[0]
    seen = ", ".join(available) or "none"
    if base.startswith("CUDA"):
        raise BadInput(f"device {device!r}: OpenVINO runs on Intel CPUs, GPUs and NPUs; for an NVIDIA GPU "
                       f"use backend='onnxruntime' or 'tensorrt' (OpenVINO sees: {seen})")
    if base not in ("CPU", "GPU", "NPU"):
        raise BadInput(f"device {device!r} is not an OpenVINO device; use one of {seen}, or AUTO "
                       "(OpenVINO picks), HETERO:GPU,CPU / MULTI:GPU,CPU")
    if name not in available and not any(d.split(".", 1)[0] == name for d in available):
        raise BackendUnavailable(f"OpenVINO sees no {name} here (devices: {seen}); install the Intel "
                                 "GPU / NPU driver, or use device='CPU' or 'AUTO'")
    return name


class OpenVINOBackend(Backend):
    """An ``.onnx`` or IR ``.xml`` model compiled by OpenVINO. Options: ``device`` (CPU default, GPU,
    NPU, AUTO, ...), ``precision`` (hint: f32 | bf16 | f16), ``threads`` (inference threads),
    ``hint`` ("latency" | "throughput"), ``batch`` (a static batch size: NPUs need one; default
    dynamic), ``cache_dir`` (OpenVINO's compiled-model cache)."""

    name = "openvino"
    install_hint = INSTALL

    @classmethod
    def is_available(cls) -> bool:
        return module_available("openvino")

    @classmethod
    def spec_options(cls, tail: str) -> dict:
        """"bf16" -> {"precision": "bf16"}; "gpu+f16" / "throughput" etc.: precision, device, hint."""
        out: dict = {}
        for token in (t.strip() for t in tail.replace(",", "+").split("+") if t.strip()):
            low = token.lower()
            if low in PRECISIONS:
                out["precision"] = PRECISIONS[low]
            elif low in HINTS:
                out["hint"] = low
            elif low.split(".")[0] in ("cpu", "gpu", "npu", "auto"):
                out["device"] = token.upper()
            else:
                raise BadInput(f"backend option {token!r} in 'openvino:{tail}' is not a precision hint "
                               "(f32, bf16, f16), a device (CPU, GPU, NPU, AUTO) or a hint (latency, "
                               "throughput); an int8 model is its Q/DQ .onnx, passed as the path")
        return out

    def __init__(self, path: str | Path, device: str | None = None, precision: str | None = None,
                 threads: int | None = None, hint: str = "latency", batch: int | None = None,
                 cache_dir: str | Path | None = None, **options) -> None:
        if options:
            raise BadInput(f"unknown OpenVINO backend options {sorted(options)}; valid: device, "
                           "precision, threads, hint, batch, cache_dir")
        ov = require("openvino", self.name, INSTALL)
        self.path = check_model_file(path)
        self.precision_hint = check_precision(precision)
        if hint not in HINTS:
            raise BadInput(f"hint {hint!r} must be 'latency' (one request, all threads) or 'throughput' "
                           "(parallel streams)")
        if threads is not None and int(threads) < 1:
            raise BadInput(f"threads={threads} must be at least 1 (or None for OpenVINO's default)")
        self.core = ov.Core()
        if cache_dir is not None:
            self.core.set_property({"CACHE_DIR": str(cache_dir)})
        self.device = resolve_device(device, list(self.core.available_devices))
        model, raw = self._read(ov)
        self.metadata = self._with_hint_tolerance(raw)
        if batch is not None:
            model = self._static_batch(model, int(batch))
        self.compiled = self._compile(ov, model, threads, hint)
        self.inference_precision = _property(self.compiled, "INFERENCE_PRECISION_HINT")
        self.input_specs = {p.get_any_name(): _spec(p) for p in self.compiled.inputs}
        self.output_specs = {p.get_any_name(): _spec(p) for p in self.compiled.outputs}
        self._idle: list = []
        self._lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ loading
    def _read(self, ov):
        """-> (ov.Model, metadata dict or None). ONNX: metadata_props; IR: rt_info."""
        suffix = self.path.suffix.lower()
        if suffix == ".xml":
            weights = self.path.with_suffix(".bin")
            if not weights.is_file():
                raise ModelFileError(f"OpenVINO IR {str(self.path)!r} has no weights file {weights.name!r} "
                                     "beside it; copy the .xml and .bin together, or re-convert with "
                                     "`edgefashion export-openvino model.onnx`")
        elif suffix != ".onnx":
            raise ModelFileError(f"OpenVINO reads .onnx or IR .xml (+ .bin) files, not {str(self.path)!r}; "
                                 "export the model with `edgefashion export`")
        props = onnx_metadata_props(self.path) if suffix == ".onnx" else None  # ModelFileError if not ONNX
        model = read_ov_model(self.core, self.path)
        where = repr(str(self.path))
        if props is not None:
            meta = parse_metadata(props[METADATA_KEY], where) if METADATA_KEY in props else None
        elif model.has_rt_info(RT_INFO_PATH):
            meta = parse_metadata(model.get_rt_info(RT_INFO_PATH).astype(str), where)
        else:
            meta = None
        return model, meta

    def _with_hint_tolerance(self, meta: dict | None) -> dict | None:
        """The metadata, with the self-test tolerance of its precision widened by the hint's drift."""
        ref = (meta or {}).get("self_test")
        if not ref or self.precision_hint == "f32":
            return meta
        from edgefashion.runtime.selftest import TOLERANCES, artifact_precision

        meta = copy.deepcopy(meta)
        prec = artifact_precision(meta)
        base = {**TOLERANCES[prec], **dict(ref.get("tolerance", {}).get(prec, {}))}
        drift = HINT_DRIFT[self.precision_hint]
        widened = {"cosine": base["cosine"] - drift["cosine"], "map_abs": base["map_abs"] + drift["map_abs"],
                   "margin": min(1.0, base["margin"] + drift["margin"])}
        meta["self_test"] = {**ref, "tolerance": {**ref.get("tolerance", {}), prec: widened}}
        return meta

    def _static_batch(self, model, batch: int):
        if batch < 1:
            raise BadInput(f"batch={batch} must be at least 1 (or None for a dynamic batch)")
        shapes = {}
        for port in model.inputs:
            dims = port.get_partial_shape()
            dims[0] = batch
            shapes[port.get_any_name()] = dims
        model.reshape(shapes)
        return model

    def _compile(self, ov, model, threads: int | None, hint: str):
        import openvino.properties as props
        import openvino.properties.hint as hints

        config = {hints.performance_mode: hints.PerformanceMode.LATENCY if hint == "latency"
                  else hints.PerformanceMode.THROUGHPUT}
        if self.precision_hint != "f32" or self.device.startswith("CPU"):
            # f32 is said explicitly on the CPU: OpenVINO would pick bf16 by itself on AMX CPUs
            config[hints.inference_precision] = getattr(ov.Type, self.precision_hint)
        if threads is not None:
            config[props.inference_num_threads] = int(threads)
        try:
            return self.core.compile_model(model, self.device, config)
        except Exception as e:
            raise BackendUnavailable(
                f"OpenVINO could not compile {str(self.path)!r} for {self.device} (precision "
                f"{self.precision_hint}, {hint}): {_first_line(e)}; try device='CPU', precision='f32', "
                "or a static batch (batch=1) for GPU / NPU") from e

    # ------------------------------------------------------------------ running
    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._closed:
            raise BackendUnavailable(f"the OpenVINO backend for {self.path.name!r} is closed")
        feeds = self.check_inputs(inputs)
        request = self._take()
        try:
            result = request.infer(feeds, share_inputs=True)
            out = {port.get_any_name(): np.array(value, dtype=np.float32, copy=True)
                   if value.dtype != np.float32 else np.array(value, copy=True)
                   for port, value in result.items()}
        except Exception as e:  # the inputs match the compiled model's: not the caller's fault
            raise BackendError(f"OpenVINO failed running {self.path.name!r} on {self.device} on inputs "
                               f"{ {k: v.shape for k, v in feeds.items()} } that match its declared "
                               f"inputs: {_first_line(e)}; a runtime or model fault (memory, device, "
                               "plugin), not the input's") from e
        finally:
            with self._lock:
                self._idle.append(request)
        return {name: out[name] for name in self.output_specs}

    def _take(self):
        """An idle infer request, or a new one: a request serves one thread at a time."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self.compiled.create_infer_request()

    def save_ir(self, xml: str | Path, compress_to_fp16: bool = False) -> Path:
        """Write this model as IR (``xml`` + ``.bin``) with its metadata in rt_info. See ``save_ir``."""
        return save_ir(self.path, xml, compress_to_fp16)

    def close(self) -> None:
        self._closed = True
        self._idle = []
        self.compiled = None


def save_ir(src: str | Path, xml: str | Path | None = None, compress_to_fp16: bool = False) -> Path:
    """``model.onnx`` (or an IR) -> OpenVINO IR ``xml`` + ``.bin`` with the edgefashion metadata in
    its rt_info (``edgefashion/metadata``). Weights stay fp32 unless ``compress_to_fp16``; an int8
    Q/DQ ONNX keeps its Q/DQ. -> the .xml path. Reading an IR is faster than parsing ONNX (cold start)."""
    ov = require("openvino", "openvino", INSTALL)
    src = check_model_file(src)
    dst = Path(xml) if xml is not None else src.with_suffix(".xml")
    if dst.suffix.lower() != ".xml":
        raise BadInput(f"the IR path {str(dst)!r} must end in .xml (the weights go beside it as .bin)")
    if dst.resolve() == src.resolve():
        raise BadInput(f"the IR path {str(dst)!r} is the source itself; pick another name")
    meta = _read_metadata(src)
    model = read_ov_model(ov.Core(), src)
    if meta is not None:
        model.set_rt_info(json.dumps(meta), RT_INFO_PATH)
    dst.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(dst), compress_to_fp16=bool(compress_to_fp16))
    return dst


def read_ov_model(core, path: Path):
    """``core.read_model(path)``; an ONNX file exported before empty heads were rewritten (a Gemm
    with a (0, K) weight, runtime/empty_heads.py) is rewritten in memory and read again."""
    try:
        return core.read_model(str(path))
    except Exception as e:  # OpenVINO raises RuntimeError with a multi-line trace
        error = e
    if path.suffix.lower() == ".onnx":
        import onnx

        from edgefashion.runtime.empty_heads import replace_empty_gemms

        model = onnx.load(str(path))
        if replace_empty_gemms(model):
            try:
                return core.read_model(model.SerializeToString(), b"")
            except Exception as e:  # noqa: BLE001 - reported below, with the first error
                error = e
    raise ModelFileError(f"OpenVINO cannot read {str(path)!r}: {_first_line(error)}; re-export the "
                         "model, or check the openvino version supports its opset") from error


def _read_metadata(path: Path) -> dict | None:
    """The edgefashion metadata of an .onnx or IR .xml, without compiling it."""
    if path.suffix.lower() == ".onnx":
        props = onnx_metadata_props(path)
        return parse_metadata(props[METADATA_KEY], repr(str(path))) if METADATA_KEY in props else None
    ov = require("openvino", "openvino", INSTALL)
    model = ov.Core().read_model(str(path))
    if not model.has_rt_info(RT_INFO_PATH):
        return None
    return parse_metadata(model.get_rt_info(RT_INFO_PATH).astype(str), repr(str(path)))



def _spec(port) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    dtype = np.dtype(port.get_element_type().to_dtype()) if port.get_element_type().is_static() \
        else np.dtype(np.float32)
    if dtype not in (np.float32, np.int64, np.int32, np.uint8, np.int8, np.bool_):
        dtype = np.dtype(np.float32)  # f16 / bf16 IO is fed and returned as float32
    return TensorSpec(shape, dtype)


def _property(compiled, key: str):
    try:
        value = compiled.get_property(key)
        return value.to_string() if hasattr(value, "to_string") else str(value)
    except Exception:  # noqa: BLE001 - not every device reports every property
        return None


def _first_line(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith("Exception from src/")]
    return (useful or lines or [type(e).__name__])[0]
