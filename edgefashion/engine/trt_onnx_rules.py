"""What TensorRT's ONNX parser accepts, per TensorRT version, checked on an ONNX file without TensorRT.

``check_onnx(model, "8.5")`` -> [Violation(node, op, rule, detail)]: each names the node and the rule it
breaks. The rules come from NVIDIA's published support (each ``Rule`` cites its source):

- ``OPS``: the operators marked supported in onnx-tensorrt's ``docs/operators.md`` of the release
  (github.com/onnx/onnx-tensorrt, branches ``8.5-GA``, ``8.6-GA``, ``10.0-GA``; for 11.x, the 10.0 list
  plus what ``docs/operators.md`` at 10.15 GA and TensorRT's CHANGELOG.md (11.0: ``Swish``) add).
- ``OPSET``: "TensorRT 8.5 / 8.6 supports operators up to Opset 17" (8.x operators.md); "TensorRT 10.0
  supports operators in the inclusive range of opset 9 to opset 20" (10.0-GA); 11.0-11.4: opset 24
  (NVIDIA "ONNX Opset Guide"; 11.5 added 25, so 24 is what every 11.x takes).
- dtypes: 8.x "supports ... DOUBLE, FLOAT32, FLOAT16, INT8, and BOOL" (INT32 / INT64 limited, cast
  down); BFLOAT16 from 10.0; ``DequantizeLinear``: INT8 input only on 8.x, INT8 / FP8 / INT4 (/ FP4) on
  10+ — so a DQ of an INT32 bias never parses.
- Q/DQ: ``QuantizeLinear`` "``y_zero_point`` must be 0", ``DequantizeLinear`` "``x_zero_point`` must
  be zero" (every operators.md since 8.0), UINT8 Q refused (8.5-GA: "Check that QuantizeLinear is not
  UINT8 type"); weights per-channel along the output-channel axis, activations per-tensor (TensorRT
  Developer Guide, "Explicit Quantization"; NVIDIA's pytorch-quantization, tools/pytorch-quantization/
  pytorch_quantization/tensor_quant.py in github.com/NVIDIA/TensorRT: Conv weight axis 0, Linear weight
  [out, in] "per row" axis 0, ConvTranspose axis 1. In ONNX: Conv 0, ConvTranspose 1, Gemm 0 with
  ``transB=1`` (else 1), MatMul the last axis of its [in, out] weight).
- attributes: ``Resize`` modes / coordinate transformations / nearest modes (operators.md, every
  version), no ``antialias`` (10.15 operators.md); pooling and ``Conv`` 2D or 3D only; pooling
  ``dilations`` all ones (10.15); ``axes`` of Slice / Squeeze / Unsqueeze / Reduce* a constant.
- custom ops (edgefashion's ``ChannelAttention`` / ``SpatialGate``, domain ``edgefashion``): IPluginV3
  plugins, TensorRT >= 10 only (csrc/tensorrt).
"""
from __future__ import annotations

from dataclasses import dataclass

from edgefashion.errors import BadInput

VERSIONS = ("8.5", "8.6", "10", "11")
_OPS_85 = set("""Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast Ceil
Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace DequantizeLinear Div
Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements GatherND Gemm GlobalAveragePool
GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample GRU HardSwish HardSigmoid Identity If ImageScaler
InstanceNormalization IsNaN LeakyRelu Less LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul
Max MaxPool Mean MeanVarianceNormalization Min Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad
ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal RandomNormalLike RandomUniform RandomUniformLike Range
Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum
ReduceSumSquare Relu
Reshape Resize ReverseSequence RNN RoiAlign Round ScaledTanh Scan Scatter ScatterElements ScatterND Selu Shape
Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh
ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor""".split())
_OPS_86 = _OPS_85 | {"GroupNormalization", "IsInf", "LayerNormalization"}
_OPS_10 = _OPS_86 | {"CastLike", "Gelu", "Hardmax", "Mish"}
_OPS_11 = _OPS_10 | {"Attention", "DeformConv", "RMSNormalization", "RotaryEmbedding", "STFT", "TensorScatter",
                     "Swish"}
OPS = {"8.5": _OPS_85, "8.6": _OPS_86, "10": _OPS_10, "11": _OPS_11}
OPSET = {"8.5": (1, 17), "8.6": (1, 17), "10": (9, 20), "11": (9, 24)}
# ONNX TensorProto data types by number
_FLOAT, _UINT8, _INT8, _INT32, _INT64, _BOOL, _FLOAT16, _DOUBLE, _BFLOAT16 = 1, 2, 3, 6, 7, 9, 10, 11, 16
_NAMES = {1: "FLOAT", 2: "UINT8", 3: "INT8", 6: "INT32", 7: "INT64", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE",
          16: "BFLOAT16", 17: "FLOAT8E4M3FN", 22: "INT4"}
TENSOR_TYPES = {"8.5": {_FLOAT, _FLOAT16, _INT8, _INT32, _INT64, _BOOL, _DOUBLE},
                "8.6": {_FLOAT, _FLOAT16, _INT8, _INT32, _INT64, _BOOL, _DOUBLE},
                "10": {_FLOAT, _FLOAT16, _BFLOAT16, _INT8, _INT32, _INT64, _BOOL, _DOUBLE, _UINT8, 17, 22},
                "11": {_FLOAT, _FLOAT16, _BFLOAT16, _INT8, _INT32, _INT64, _BOOL, _DOUBLE, _UINT8, 17, 22, 23}}
DQ_INPUT_TYPES = {"8.5": {_INT8}, "8.6": {_INT8}, "10": {_INT8, 17, 22}, "11": {_INT8, 17, 22, 23}}
RESIZE = {"coordinate_transformation_mode": {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn",
                                             "asymmetric", "align_corners"},
          "mode": {"nearest", "linear"},
          "nearest_mode": {"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}}
WEIGHT_AXIS = {"Conv": 0, "ConvTranspose": 1}  # the output-channel axis of the weight (input 1); Gemm / MatMul below
CUSTOM_DOMAINS = {"edgefashion"}  # csrc/tensorrt: IPluginV3 plugins, TensorRT >= 10
AXES_CONSTANT = {"Slice": 3, "Squeeze": 1, "Unsqueeze": 1, "ReduceMean": 1, "ReduceMax": 1, "ReduceSum": 1,
                 "ReduceMin": 1, "ReduceProd": 1}  # op -> the input index that holds axes (opset 13/18+)


@dataclass(frozen=True)
class Violation:
    node: str
    op: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"node {self.node!r} ({self.op}) breaks {self.rule}: {self.detail}"


def _version(version: str) -> str:
    """"8.5.2" -> "8.5", "8.6" -> "8.6", "10.3.0" / "10.x" -> "10", "11.4" -> "11"."""
    parts = str(version).split(".")
    key = ".".join(parts[:2]) if parts[0] == "8" else parts[0]
    if key not in VERSIONS:
        raise BadInput(f"TensorRT version {version!r} is not one edgefashion targets; use one of {', '.join(VERSIONS)}")
    return key


class _Graph:
    """What the rules need to know about a graph: constants, value types, shapes."""

    def __init__(self, model) -> None:
        from onnx import numpy_helper, shape_inference

        try:
            model = shape_inference.infer_shapes(model)
        except Exception:  # noqa: BLE001 - types of graph inputs / initializers still suffice
            pass
        self.graph = model.graph
        self.consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        for n in model.graph.node:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.consts[n.output[0]] = numpy_helper.to_array(a.t)
        self.types = {t.name: t.data_type for t in model.graph.initializer}
        for v in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
            if v.type.HasField("tensor_type"):
                self.types[v.name] = v.type.tensor_type.elem_type
        self.producer = {o: n for n in model.graph.node for o in n.output}


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def check_onnx(model, version: str) -> list[Violation]:
    """Every rule of TensorRT ``version`` ("8.5", "8.6", "10.x", "11.x") the ONNX ``model`` breaks."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    key = _version(version)
    g = _Graph(model)
    out: list[Violation] = []
    lo, hi = OPSET[key]
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx") and not lo <= imp.version <= hi:
            out.append(Violation("<model>", "opset", f"OPSET[{key}]",
                                 f"opset {imp.version} is outside {lo}..{hi} that TensorRT {key} parses"))
    for node in model.graph.node:
        out += _check_node(node, g, key)
    return out


def _check_node(node, g: _Graph, key: str) -> list[Violation]:
    name, op = node.name or node.output[0], node.op_type

    def v(rule: str, detail: str) -> Violation:
        return Violation(name, op, rule, detail)

    if node.domain not in ("", "ai.onnx"):
        if node.domain in CUSTOM_DOMAINS and key not in ("8.5", "8.6"):
            return []
        return [v("CUSTOM_DOMAINS", f"op {node.domain}::{op} needs a TensorRT plugin "
                  + ("(edgefashion's are IPluginV3: TensorRT >= 10)" if node.domain in CUSTOM_DOMAINS else
                     "that edgefashion does not ship"))]
    found = []
    if op not in OPS[key]:
        found.append(v(f"OPS[{key}]", f"{op} is not a supported operator in onnx-tensorrt {key}"))
    for t in [*node.input, *node.output]:
        if t and t in g.types and g.types[t] not in TENSOR_TYPES[key] and g.types[t] != 0:
            found.append(v(f"TENSOR_TYPES[{key}]", f"tensor {t!r} is {_NAMES.get(g.types[t], g.types[t])}"))
    attrs = _attrs(node)
    if op in ("QuantizeLinear", "DequantizeLinear"):
        found += [v(r, d) for r, d in _qdq(node, g, key)]
    if op == "Resize":
        for attr, allowed in RESIZE.items():
            value = attrs.get(attr)
            value = value.decode() if isinstance(value, bytes) else value
            if value is not None and value not in allowed:
                found.append(v(f"RESIZE[{attr}]", f"{attr}={value!r}; TensorRT takes {sorted(allowed)}"))
        if attrs.get("antialias", 0):
            found.append(v("RESIZE[antialias]", "antialiasing is not supported"))
    if op in ("Conv", "ConvTranspose", "MaxPool", "AveragePool") and "kernel_shape" in attrs:
        if len(attrs["kernel_shape"]) not in (2, 3):
            found.append(v("SPATIAL_DIMS", f"a {len(attrs['kernel_shape'])}D {op}; TensorRT takes 2D or 3D"))
    if op in ("MaxPool", "AveragePool", "LpPool") and any(d != 1 for d in attrs.get("dilations", [])):
        found.append(v("POOL_DILATIONS", f"dilations {list(attrs['dilations'])} must be all ones"))
    idx = AXES_CONSTANT.get(op)
    if idx is not None and len(node.input) > idx and node.input[idx] and node.input[idx] not in g.consts:
        found.append(v("AXES_CONSTANT", f"axes input {node.input[idx]!r} is not a constant"))
    return found


def _qdq(node, g: _Graph, key: str) -> list[tuple[str, str]]:
    import numpy as np

    found = []
    zp = g.consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if zp is not None and np.any(zp != 0):
        found.append(("QDQ_ZERO_POINT", "the zero point must be 0 (TensorRT quantizes symmetrically)"))
    if node.op_type == "QuantizeLinear" and zp is not None and zp.dtype == np.uint8:
        found.append(("QDQ_INT8", "QuantizeLinear to UINT8; TensorRT quantizes to INT8"))
    if node.op_type == "DequantizeLinear":
        t = g.types.get(node.input[0])
        if t is not None and t not in DQ_INPUT_TYPES[key]:
            takes = sorted(_NAMES[x] for x in DQ_INPUT_TYPES[key] if x in _NAMES)
            found.append((f"DQ_INPUT_TYPES[{key}]", f"DequantizeLinear of {_NAMES.get(t, t)} (an int32 bias?); "
                          f"TensorRT {key} dequantizes {takes}"))
    scale = g.consts.get(node.input[1])
    if scale is None or scale.size <= 1:
        return found
    axis = _attrs(node).get("axis", 1)
    consumer_axis = _weight_axis(node, g)
    if consumer_axis is None:
        found.append(("QDQ_PER_TENSOR_ACTIVATIONS", f"{scale.size} scales on a tensor that is not the weight of "
                      "a Conv / ConvTranspose / Gemm / MatMul: TensorRT quantizes activations per tensor"))
    elif axis != consumer_axis:
        found.append(("QDQ_WEIGHT_AXIS", f"per-channel weight scales on axis {axis}; the output-channel axis of "
                      f"this weight is {consumer_axis}"))
    return found


def _weight_axis(node, g: _Graph) -> int | None:
    """The output-channel axis when ``node`` (a Q or DQ) is on the weight input of a Conv / ConvTranspose /
    Gemm / MatMul (directly, or as the Q of a Q -> DQ pair feeding one); None for an activation."""
    data = node.output[0]
    for consumer in g.graph.node:
        if len(consumer.input) > 1 and consumer.input[1] == data:
            if consumer.op_type in WEIGHT_AXIS:
                return WEIGHT_AXIS[consumer.op_type]
            if consumer.op_type == "Gemm":
                return 0 if _attrs(consumer).get("transB", 0) else 1
            if consumer.op_type == "MatMul" and node.input[0] in g.consts:
                return g.consts[node.input[0]].ndim - 1
        if consumer.op_type == "DequantizeLinear" and consumer.input[0] == data:
            return _weight_axis(consumer, g)
    return None
