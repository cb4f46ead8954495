"""Rewrites that make an exported ONNX parse on an older TensorRT, applied by the build before parsing.

- ``LayerNormalization`` (ONNX opset 17; ``nn.LayerNorm`` exports to it at opset >= 17) has no importer in
  TensorRT 8.5's ONNX parser (onnx-tensorrt ``8.5-GA`` docs/operators.md does not list it; ``8.6-GA``
  does). On 8.5 it is decomposed into the ops it is defined by: ``mean = ReduceMean(x)``,
  ``d = x - mean``, ``y = d / Sqrt(ReduceMean(d * d) + epsilon) * scale + bias`` over the normalized
  axes — the same function, so the engine-vs-ONNX check still compares against the exported file.

``adapt_for_tensorrt(path, version, folder)`` returns the path to parse: the file itself when nothing
applies (or the version is not one the rules know), else a rewritten copy in ``folder``.
"""
from __future__ import annotations

from pathlib import Path

from edgefashion.engine.trt_onnx_rules import OPS, _version
from edgefashion.errors import ExportError


def adapt_for_tensorrt(path: str | Path, version: str, folder: str | Path) -> Path:
    """``path`` itself, or a rewritten copy (in ``folder``) that TensorRT ``version`` parses."""
    import onnx

    from edgefashion.errors import BadInput

    path = Path(path)
    try:
        key = _version(version)
    except BadInput:  # a TensorRT between the targeted ones (9.x): parse the file as it is
        return path
    model = onnx.load(str(path), load_external_data=False)
    if "LayerNormalization" in OPS[key] or not any(n.op_type == "LayerNormalization" for n in model.graph.node):
        return path
    decompose_layer_norm(model)
    out = Path(folder) / f"{path.stem}.trt{key}.onnx"
    onnx.save(model, str(out))
    return out


def decompose_layer_norm(model) -> int:
    """Replace every ``LayerNormalization`` node of ``model`` (in place) by its primitive ops; -> how many.
    Uses ReduceMean's ``axes`` attribute (opset <= 17) or input (opset >= 18), as the model's opset says."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    opset = next((i.version for i in model.opset_import if i.domain in ("", "ai.onnx")), 17)
    ranks = _ranks(model)
    types = {t.name: t.data_type for t in model.graph.initializer}
    for v in [*model.graph.input, *model.graph.value_info]:
        types[v.name] = v.type.tensor_type.elem_type
    nodes, count = [], 0
    for node in model.graph.node:
        if node.op_type != "LayerNormalization":
            nodes.append(node)
            continue
        count += 1
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x, scale = node.input[0], node.input[1]
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        axis = int(attrs.get("axis", -1))
        if axis >= 0:
            if x not in ranks:
                raise ExportError(f"LayerNormalization {node.name!r}: axis {axis} needs the rank of {x!r}")
            axis -= ranks[x]
        axes = list(range(axis, 0))
        p = f"{node.name or node.output[0]}/decomposed"
        dtype = np.float16 if types.get(x) == onnx.TensorProto.FLOAT16 else np.float32
        eps = numpy_helper.from_array(np.array(attrs.get("epsilon", 1e-5), dtype), f"{p}/epsilon")
        model.graph.initializer.append(eps)

        def reduce_mean(src: str, dst: str) -> onnx.NodeProto:
            if opset >= 18:
                name = f"{p}/axes"
                if name not in {t.name for t in model.graph.initializer}:
                    model.graph.initializer.append(numpy_helper.from_array(np.array(axes, np.int64), name))
                return helper.make_node("ReduceMean", [src, name], [dst], name=f"{dst}_op", keepdims=1)
            return helper.make_node("ReduceMean", [src], [dst], name=f"{dst}_op", axes=axes, keepdims=1)

        y = node.output[0] if bias is None else f"{p}/scaled"
        nodes += [reduce_mean(x, f"{p}/mean"),
                  helper.make_node("Sub", [x, f"{p}/mean"], [f"{p}/d"], name=f"{p}/sub"),
                  helper.make_node("Mul", [f"{p}/d", f"{p}/d"], [f"{p}/d2"], name=f"{p}/square"),
                  reduce_mean(f"{p}/d2", f"{p}/var"),
                  helper.make_node("Add", [f"{p}/var", eps.name], [f"{p}/var_eps"], name=f"{p}/add_eps"),
                  helper.make_node("Sqrt", [f"{p}/var_eps"], [f"{p}/std"], name=f"{p}/sqrt"),
                  helper.make_node("Div", [f"{p}/d", f"{p}/std"], [f"{p}/norm"], name=f"{p}/div"),
                  helper.make_node("Mul", [f"{p}/norm", scale], [y], name=f"{p}/scale")]
        if bias is not None:
            nodes.append(helper.make_node("Add", [y, bias], [node.output[0]], name=f"{p}/bias"))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return count


def _ranks(model) -> dict[str, int]:
    from onnx import shape_inference

    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - only negative axes then
        return {}
    return {v.name: len(v.type.tensor_type.shape.dim) for v in [*inferred.graph.input, *inferred.graph.value_info]
            if v.type.tensor_type.HasField("shape")}
