"""Finding nodes in an ONNX graph: the attention / gate nodes, the first conv, the heads, name patterns.

Used by both precisions: fp16 keeps the attention pooling in fp32, int8 keeps the layers named by
``--keep-fp32`` (presets or patterns) out of quantization.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

import numpy as np

from edgefashion.errors import BadInput

# Reductions and the pooling ops of the attention blocks (GAP + GMP in MSFAN's channel attention).
REDUCTION_OPS = frozenset({"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL2",
                           "ReduceLogSumExp", "GlobalAveragePool", "GlobalMaxPool"})
# Cheap ops that may sit between a pooled vector and its sigmoid (the channel-attention MLP).
_VECTOR_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Gemm", "MatMul", "Relu", "Sigmoid",
                         "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Transpose", "Identity"})
_HEAD_OPS = frozenset({"Gemm", "MatMul", "Relu", "Add", "Identity", "Dropout"})
PRESETS = ("gates", "first-conv", "heads")
_GLOB = "*?["


def _producers(graph) -> dict[str, object]:
    return {o: n for n in graph.node for o in n.output}


def _consumers(graph) -> dict[str, list]:
    out: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            out.setdefault(i, []).append(n)
    return out


def _constants(graph) -> set[str]:
    names = {i.name for i in graph.initializer}
    names |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    return names


def attention_nodes(graph) -> list[str]:
    """Reductions, the vector MLP between them and a Sigmoid, the Sigmoids themselves (in order).

    A node joins when all its non-constant inputs come from nodes already in the set (so the Mul that
    applies a channel-attention vector to the big feature map stays out: its other input is a map).
    """
    const = _constants(graph)
    inside: set[str] = set()  # tensor names produced inside the attention pooling
    names: list[str] = []
    for node in graph.node:  # ONNX graphs are topologically sorted
        data = [i for i in node.input if i and i not in const]
        if node.op_type in REDUCTION_OPS or node.op_type == "Sigmoid" or (
                node.op_type in _VECTOR_OPS and data and all(i in inside for i in data)):
            inside.update(node.output)
            names.append(node.name)
    return names


def gate_nodes(graph) -> list[str]:
    """The attention blocks: ``attention_nodes`` plus each Sigmoid's producer (the 1x1 gate conv or
    the last attention FC) and the Mul nodes that apply a gate (directly or through Unsqueeze)."""
    prod, cons = _producers(graph), _consumers(graph)
    names = attention_nodes(graph)
    chosen = set(names)
    for node in graph.node:
        if node.op_type != "Sigmoid":
            continue
        src = prod.get(node.input[0])
        if src is not None and src.op_type in ("Conv", "Gemm", "MatMul"):
            chosen.add(src.name)
        frontier = list(node.output)
        while frontier:
            for user in cons.get(frontier.pop(), []):
                if user.op_type in ("Unsqueeze", "Reshape"):
                    chosen.add(user.name)
                    frontier.extend(user.output)
                elif user.op_type == "Mul":
                    chosen.add(user.name)
    return [n.name for n in graph.node if n.name in chosen]


def first_conv_nodes(graph) -> list[str]:
    """The Conv nodes that read a graph input directly."""
    inputs = {i.name for i in graph.input} - {i.name for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "Conv" and n.input and n.input[0] in inputs]


def head_nodes(graph, outputs: Sequence[str] = ("category_logits", "attribute_logits")) -> list[str]:
    """The classifier heads: from each logits output back through Gemm / MatMul / Relu / Add."""
    prod = _producers(graph)
    chosen: set[str] = set()
    frontier = [o for o in outputs if o in prod]
    const = _constants(graph)
    while frontier:
        node = prod.get(frontier.pop())
        if node is None or node.op_type not in _HEAD_OPS or node.name in chosen:
            continue
        chosen.add(node.name)
        frontier.extend(i for i in node.input if i and i not in const)
    return [n.name for n in graph.node if n.name in chosen]


def output_only_nodes(graph, outputs: Sequence[str] = ("cam",)) -> list[str]:
    """The nodes that feed only ``outputs`` (msfan_lite's class activation map "cam"): what is
    computed for them alone. int8 leaves them in fp32: a few hundred MACs per image, and their
    MatMul / Gather read the head's weights along another axis than the head's Gemm, so a per-channel
    quantization of that shared weight cannot serve both."""
    prod = _producers(graph)

    def cone(names: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        stack = list(names)
        while stack:
            node = prod.get(stack.pop())
            if node is not None and node.name not in seen:
                seen.add(node.name)
                stack.extend(node.input)
        return seen

    wanted = [o.name for o in graph.output if o.name in outputs]
    only = cone(wanted) - cone(o.name for o in graph.output if o.name not in outputs) if wanted else set()
    return [n.name for n in graph.node if n.name in only]


def empty_nodes(graph) -> list[str]:
    """Nodes whose output is empty (e.g. the attribute head of a schema without attributes): a
    zero-size initializer input (a Gemm with a (0, K) weight), a Slice with equal constant starts
    and ends (what runtime/empty_heads.py writes instead of that Gemm), and every node reading only
    such outputs. Quantization tools cannot take the range of nothing (the histogram calibrators
    fail on an empty tensor)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in graph.initializer}
    empty_inits = {n for n, i in inits.items() if int(np.prod(i.dims)) == 0}
    empty_tensors: set[str] = set()
    found = []
    for node in graph.node:  # topologically sorted
        data = [i for i in node.input if i and i not in inits]
        empty = any(i in empty_inits for i in node.input) or (
            bool(data) and all(i in empty_tensors for i in data))
        if not empty and node.op_type == "Slice" and len(node.input) >= 3 \
                and node.input[1] in inits and node.input[2] in inits:
            starts, ends = (numpy_helper.to_array(inits[node.input[k]]) for k in (1, 2))
            empty = starts.shape == ends.shape and bool(np.all(starts == ends))
        if empty:
            found.append(node.name)
            empty_tensors.update(node.output)
    return found


def preset_nodes(graph, preset: str) -> list[str]:
    if preset == "gates":
        return gate_nodes(graph)
    if preset == "first-conv":
        return first_conv_nodes(graph)
    if preset == "heads":
        return head_nodes(graph)
    raise BadInput(f"unknown --keep-fp32 preset {preset!r}; presets: {', '.join(PRESETS)}")


def resolve_patterns(graph, patterns: Iterable[str]) -> list[str]:
    """Node names matched by ``patterns``, in graph order.

    Each pattern is a preset ("gates", "first-conv", "heads"), ``op:<OpType>`` (every node of that
    type), a glob over node names (``*/head*``), or a plain substring of node names. A pattern that
    matches nothing is an error naming it (a typo would otherwise silently quantize everything).
    """
    chosen: set[str] = set()
    names = [n.name for n in graph.node]
    for pat in patterns:
        pat = str(pat).strip()
        if pat in PRESETS:
            found = preset_nodes(graph, pat)
        elif pat.startswith("op:"):
            found = [n.name for n in graph.node if n.op_type == pat[3:]]
        elif any(c in pat for c in _GLOB):
            found = [n for n in names if fnmatch.fnmatchcase(n, pat)]
        else:
            found = [n for n in names if pat and pat in n]
        if not found:
            sample = ", ".join(repr(n) for n in names[:4])
            raise BadInput(
                f"--keep-fp32 pattern {pat!r} matches no node of the model; use a preset "
                f"({', '.join(PRESETS)}), op:<OpType>, a glob or a substring of node names "
                f"(e.g. {sample})"
            )
        chosen.update(found)
    return [n for n in names if n in chosen]
