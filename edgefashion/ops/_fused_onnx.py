"""ONNX symbolics of the fused custom ops for the TorchScript exporter (torch.onnx.export, dynamo=False).

Nodes: edgefashion::ChannelAttention(x, w1, b1, w2, b2[, t]) -> y, attribute use_max (int);
       edgefashion::SpatialGate(x, w, b) -> (y, g).
Both carry plugin_namespace="edgefashion" and plugin_version="1": the TensorRT ONNX parser maps a node
whose op_type it does not know to the plugin creator of that name, version and namespace.
"""
from __future__ import annotations

import torch

DOMAIN = "edgefashion"
PLUGIN_VERSION = "1"
_OPSET = 9  # the symbolics apply to every opset from 9 on
_NAMES = {"edgefashion::channel_attention": "ChannelAttention", "edgefashion::spatial_gate": "SpatialGate"}


def _plugin_attrs() -> dict:
    return {"plugin_namespace_s": DOMAIN, "plugin_version_s": PLUGIN_VERSION}


def _channel_attention_symbolic(g, x, w1, b1, w2, b2, t, use_max):
    from torch.onnx import symbolic_helper as sh

    inputs = [x, w1, b1, w2, b2] + ([] if sh._is_none(t) else [t])
    use_max_value = bool(sh._maybe_get_const(use_max, "b"))
    y = g.op(f"{DOMAIN}::ChannelAttention", *inputs, use_max_i=int(use_max_value), **_plugin_attrs())
    y.setType(x.type())
    return y


def _spatial_gate_symbolic(g, x, w, b):
    y, gate = g.op(f"{DOMAIN}::SpatialGate", x, w, b, outputs=2, **_plugin_attrs())
    y.setType(x.type())
    sizes = x.type().varyingSizes()
    if sizes is not None and len(sizes) == 4:
        gate.setType(x.type().with_sizes([sizes[0], 1, sizes[2], sizes[3]]))
    return y, gate


_SYMBOLICS = {"edgefashion::channel_attention": _channel_attention_symbolic,
              "edgefashion::spatial_gate": _spatial_gate_symbolic}


def register_symbolics() -> None:
    for name, fn in _SYMBOLICS.items():
        torch.onnx.register_custom_op_symbolic(name, fn, _OPSET)


def unregister_symbolics() -> None:
    for name in _SYMBOLICS:
        try:
            torch.onnx.unregister_custom_op_symbolic(name, _OPSET)
        except Exception:  # noqa: BLE001 - already gone; nothing to undo
            pass
