"""fp32 ONNX -> fp16 ONNX with the numerically sensitive ops kept in fp32.

The graph work is done by ONNX Runtime's maintained converter
(``onnxruntime.transformers.float16.convert_float_to_float16``), which inserts the Cast nodes around
blocked ops. Kept in fp32: reductions and global pools (sums over many values), Softmax /
LogSoftmax and Sigmoid (their inputs: saturating ops where a small fp16 error moves the output), the
whole attention pooling (GAP / GMP -> MLP -> Sigmoid: tiny vectors, so it costs nothing), plus any
node the caller names. Graph inputs / outputs stay fp32 unless ``fp16_io``.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable

from edgefashion.errors import BackendUnavailable, ExportError
from edgefashion.precision.graph import REDUCTION_OPS, attention_nodes

FP32_OPS = tuple(sorted(REDUCTION_OPS | {"Softmax", "LogSoftmax", "Sigmoid"}))


def _converter():
    try:
        from onnxruntime.transformers import float16
    except ImportError as e:
        raise BackendUnavailable(
            f"fp16 conversion needs onnxruntime's converter (onnxruntime.transformers.float16): {e}; "
            "pip install onnxruntime"
        ) from e
    return float16


def convert_fp16(model, fp16_io: bool = False, keep_fp32_nodes: Iterable[str] = (),
                 keep_fp32_ops: Iterable[str] = FP32_OPS):
    """onnx.ModelProto (fp32) -> a new ModelProto with fp16 weights and activations.

    keep_fp32_nodes: node names left in fp32 in addition to the attention pooling;
    keep_fp32_ops: op types left in fp32 (default ``FP32_OPS``), on top of the converter's own list.
    """
    float16 = _converter()
    nodes = fp32_nodes(model, keep_fp32_nodes, keep_fp32_ops)
    ops = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(keep_fp32_ops))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float16.convert_float_to_float16(
                model, keep_io_types=not fp16_io, op_block_list=ops, node_block_list=nodes,
            )
    except Exception as e:
        raise ExportError(f"fp16 conversion failed: {type(e).__name__}: {e}") from e


def fp32_nodes(model, keep_fp32_nodes: Iterable[str] = (),
               keep_fp32_ops: Iterable[str] = FP32_OPS) -> list[str]:
    """Names of the nodes of the fp32 ``model`` that the conversion keeps in fp32, in graph order."""
    ops, named = set(keep_fp32_ops), set(attention_nodes(model.graph)) | set(keep_fp32_nodes)
    return [n.name for n in model.graph.node if n.op_type in ops or n.name in named]
