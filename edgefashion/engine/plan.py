"""Which build path a TensorRT version takes for a requested precision (plain logic, no TensorRT).

- TensorRT >= 10: a strongly typed network; the precision is the ONNX's (fp32, an fp16 ONNX, or a Q/DQ
  int8 ONNX). An fp32 ONNX asked to become fp16 / int8 is first converted by ``edgefashion.precision``
  (with the accuracy gate), unless the legacy entropy calibrator is asked for (TensorRT 10 only).
- TensorRT 8.5 / 8.6: weak typing; the FP16 / INT8 builder flags; a Q/DQ ONNX builds with INT8 set
  (explicit quantization); int8 from an fp32 ONNX uses the entropy calibrator and its cache.
- TensorRT 11: strongly typed only; no builder precision flags, no calibrators.
- DLA (``--dla N``): on TensorRT <= 10 the weakly typed path NVIDIA documents for DLA (trtexec
  ``--useDLACore=N --fp16|--int8 --allowGPUFallback``; int8 from an fp32 ONNX through the calibrator),
  even where strong typing exists: whether 10.x's DLA takes a strongly typed network without FP16 /
  INT8 flags is not documented. On TensorRT 11 DLA networks are strongly typed ("Strongly Typed Networks
  for DLA", TensorRT 11.4.1 docs): the fp16 / Q/DQ ONNX, no flags. See docs/tensorrt.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgefashion.runtime.tensorrt.compat import TrtFeatures
from edgefashion.errors import BadInput, ModelFileError

ONNX_PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class BuildPath:
    """How to build: network creation flags, builder flags, calibrator, ONNX conversion first."""

    name: str                  # strongly_typed | builder_flags | calibrator | default
    precision: str             # the engine's precision
    network_flags: tuple = ()  # NetworkDefinitionCreationFlag member names
    builder_flags: tuple = ()  # BuilderFlag member names
    calibrator: bool = False   # IInt8EntropyCalibrator2 on the fp32 ONNX (implicit quantization)
    quantize_to: str | None = None  # convert the fp32 ONNX with edgefashion.precision first
    notes: tuple = ()


def select_build_path(features: TrtFeatures, precision: str, onnx_precision: str,
                      calibrator: str = "auto", has_calib: bool = False, dla: bool = False) -> BuildPath:
    """The build path for ``precision`` ("auto" = the ONNX's) from an ONNX of ``onnx_precision``.

    ``calibrator``: "auto" | "qdq" | "entropy" (see BuildSettings). ``has_calib``: calibration images or
    a calibration cache were given. ``dla``: a DLA core was asked for (DLA runs fp16 / int8 only).
    """
    if onnx_precision not in ONNX_PRECISIONS:
        raise BadInput(f"ONNX precision {onnx_precision!r} must be one of {', '.join(ONNX_PRECISIONS)}")
    want = onnx_precision if precision == "auto" else precision
    if want not in ONNX_PRECISIONS:
        raise BadInput(f"precision {precision!r} must be auto, fp32, fp16 or int8")
    if onnx_precision != "fp32" and want != onnx_precision:
        raise BadInput(
            f"the ONNX model already holds {onnx_precision} precision, so it cannot be built as {want}; "
            f"build it with --precision {onnx_precision} (or auto), or pass the fp32 ONNX to make a {want} engine"
        )
    if dla and want == "fp32":
        raise BadInput(f"DLA cores run fp16 or int8 only, and this build is fp32 (the ONNX is {onnx_precision}); "
                       "pass --precision fp16 or int8 with --dla")
    notes: list[str] = []
    quantize_to, use_calibrator = None, False
    strongly_typed = features.strongly_typed and not (dla and features.weak_typing)  # DLA on <= 10: weak
    if onnx_precision == "fp32" and want == "int8":
        legacy = calibrator == "entropy" or (calibrator == "auto" and not strongly_typed)
        if legacy and not features.calibrators:
            raise BadInput(
                f"TensorRT {features.version} has no INT8 calibrators (removed in TensorRT 11); make a Q/DQ "
                "ONNX first (`edgefashion quantize model.onnx --precision int8 --calib DIR`) and build that, "
                "or use --calibrator qdq"
            )
        if not has_calib:
            raise BadInput(
                "int8 from an fp32 ONNX needs calibration images (--calib DIR of real photos) or a "
                "calibration cache (--calib-cache FILE); or build a Q/DQ ONNX made by `edgefashion quantize`"
            )
        use_calibrator = legacy
        quantize_to = None if legacy else "int8"
    elif onnx_precision == "fp32" and want == "fp16" and strongly_typed:
        quantize_to = "fp16"
    if quantize_to:
        notes.append(f"the fp32 ONNX is converted to {quantize_to} by edgefashion.precision (accuracy-gated) "
                     "and built strongly typed")
    if dla and features.weak_typing:
        notes.append(f"DLA on TensorRT {features.version}: the weakly typed build NVIDIA documents for DLA "
                     "(precision flags + GPU fallback), not a strongly typed network")
    if strongly_typed and not use_calibrator:
        flags = () if features.always_strongly_typed else ("STRONGLY_TYPED",)
        return BuildPath("strongly_typed", want, flags, (), False, quantize_to, tuple(notes))
    network_flags = ("EXPLICIT_BATCH",) if features.explicit_batch_flag else ()
    builder_flags = {"fp32": (), "fp16": ("FP16",), "int8": ("INT8",)}[want]
    if use_calibrator:
        notes.append("implicit INT8 with IInt8EntropyCalibrator2 (legacy; TensorRT <= 10)")
        name = "calibrator"
    else:
        name = "builder_flags" if builder_flags else "default"
        if onnx_precision == "int8" or quantize_to == "int8":
            notes.append("explicit quantization: the Q/DQ ONNX with the INT8 builder flag")
    return BuildPath(name, want, network_flags, builder_flags, use_calibrator, quantize_to, tuple(notes))


def detect_onnx_precision(path: str | Path) -> str:
    """fp32, fp16 or int8 (Q/DQ) for an ONNX file: from its graph when ``onnx`` is installed, else
    from the edgefashion metadata's "precision" (fp32 when it has none)."""
    path = Path(path)
    try:
        import onnx
    except ImportError:
        onnx = None
    if onnx is not None:
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as e:  # onnx raises DecodeError and friends
            raise ModelFileError(f"{str(path)!r} is not a readable ONNX model ({type(e).__name__}: {e})") from e
        return graph_precision(model.graph, onnx.TensorProto.FLOAT16)
    from edgefashion.runtime.metadata import read_onnx_metadata, recorded_precision

    found = recorded_precision(read_onnx_metadata(path))
    return found if found in ONNX_PRECISIONS else "fp32"


def graph_precision(graph, float16: int = 10) -> str:
    """int8 when the graph has Q/DQ nodes, fp16 when it has fp16 weights or casts to fp16, else fp32."""
    ops = {n.op_type for n in graph.node}
    if {"QuantizeLinear", "DequantizeLinear"} & ops:
        return "int8"
    if any(t.data_type == float16 for t in graph.initializer):
        return "fp16"
    for n in graph.node:
        if n.op_type == "Cast" and any(a.name == "to" and a.i == float16 for a in n.attribute):
            return "fp16"
    return "fp32"


def onnx_input_shapes(path: str | Path) -> dict[str, tuple]:
    """name -> declared shape (-1 for symbolic / unknown dims) of an ONNX model's real inputs."""
    try:
        import onnx
    except ImportError:
        onnx = None
    if onnx is None:
        from edgefashion.runtime.backends.base import require

        ort = require("onnxruntime", "engine planning", "pip install onnx or onnxruntime")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return {i.name: tuple(d if isinstance(d, int) else -1 for d in i.shape) for i in session.get_inputs()}
    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {t.name for t in graph.initializer}
    out = {}
    for value in graph.input:
        if value.name in weights:
            continue
        dims = value.type.tensor_type.shape.dim
        out[value.name] = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
    return out
