"""Empty heads: a Gemm whose weight has a zero dimension, rewritten as an empty Slice.

A model trained on data without attributes (clothing-small: 10 categories, 0 attributes) has an
attribute head ``Linear(K, 0)``: in ONNX a Gemm with a (0, K) weight whose output is (N, 0).
ONNX Runtime runs it; OpenVINO's ONNX reader (2026.4) reads the empty weight as a scalar and refuses
the whole model ("Scalars are not supported as MatMul inputs"). ``Slice(A, [0], [0], axes=[1])``
gives the same (N, 0) output from the Gemm's input, and every runtime reads it.

``replace_empty_gemms`` runs on every export (export/onnx.py); OpenVINO also applies it when reading a
file exported before (``runtime/backends/openvino.py``). It lives in runtime/ because both use it:
export sits above runtime, and the runtime imports nothing from export.
"""
from __future__ import annotations

import numpy as np


def _empty_weight(node, inits: dict, producers: dict) -> str | None:
    """-> the initializer name when the Gemm's weight (directly, or through a DequantizeLinear) is
    empty, else None."""
    name = node.input[1]
    dq = producers.get(name)
    if name not in inits and dq is not None and dq.op_type == "DequantizeLinear":
        name = dq.input[0]
    init = inits.get(name)
    return name if init is not None and 0 in tuple(init.dims) else None


def replace_empty_gemms(model) -> int:
    """In place: each Gemm with an empty weight -> an empty Slice of its input along axis 1; the
    weights, biases and Q/DQ nodes only it used are removed. Returns how many were replaced."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    # a transposed A would slice its other axis; torch's Linear never transposes A
    found = [n for n in graph.node if n.op_type == "Gemm" and len(n.input) > 1
             and _empty_weight(n, inits, producers)
             and not any(a.name == "transA" and a.i for a in n.attribute)]
    if not found:
        return 0
    zero, axis = "edgefashion_empty_zero", "edgefashion_empty_axis"
    if zero not in inits:
        graph.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), zero),
                                  numpy_helper.from_array(np.array([1], np.int64), axis)])
    candidates: set[str] = set()
    for node in found:
        candidates.update(node.input[1:])
        node.op_type, node.domain = "Slice", ""
        node.input[:] = [node.input[0], zero, zero, axis]
        del node.attribute[:]
    _drop_unused(graph, candidates)
    return len(found)


def _drop_unused(graph, candidates: set[str]) -> None:
    """Remove the Q/DQ nodes among ``candidates``' producers that nobody reads any more, then the
    initializers among ``candidates`` (and those nodes' inputs) that nothing uses."""
    outputs = {o.name for o in graph.output}
    while True:
        used = outputs | {i for n in graph.node for i in n.input}
        dead = [n for n in graph.node if n.op_type in ("DequantizeLinear", "QuantizeLinear")
                and any(o in candidates for o in n.output) and not any(o in used for o in n.output)]
        for n in dead:
            candidates.update(n.input)
            graph.node.remove(n)
        if not dead:
            break
    used = outputs | {i for n in graph.node for i in n.input} | {i.name for i in graph.input}
    for init in [i for i in graph.initializer if i.name in candidates and i.name not in used]:
        graph.initializer.remove(init)
