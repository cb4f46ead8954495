"""The fused kernels as PyTorch custom ops: ``torch.ops.edgefashion.channel_attention`` / ``spatial_gate``.

The math runs in ``edgefashion._C`` (CPU: OpenMP + AVX2; CUDA: device pointers on the current stream),
which does not link libtorch; this module wraps it with ``torch.library.custom_op``, fake (meta)
kernels for torch.compile / export, and autograd formulas (the backward is plain PyTorch math).

``edgefashion.ops._dispatch`` (which this module does not import) calls :func:`available_ops` to
pick the fused path when ``set_impl("auto" | "fused")`` allows it. Inference calls (no gradient
needed, not compiling or tracing) skip the dispatcher and call the kernel directly; everything else
goes through the op.

ONNX: the default export keeps the reference decomposition. Inside :func:`custom_op_export` the
exporter (TorchScript, ``dynamo=False``) writes ``edgefashion::ChannelAttention`` / ``SpatialGate``
nodes (domain "edgefashion", attributes plugin_namespace="edgefashion", plugin_version="1") that the
TensorRT plugins in csrc/tensorrt implement.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional

import torch

from edgefashion.ops import _kernels
from edgefashion.ops.impl import set_custom_op_export
from edgefashion.ops._fused_autograd import (
    channel_attention_backward,
    channel_attention_setup,
    spatial_gate_backward,
    spatial_gate_setup,
)

__all__ = ["available_ops", "kernel_report", "custom_op_export", "channel_attention", "spatial_gate"]

# ---------------------------------------------------------------- custom ops


@torch.library.custom_op("edgefashion::channel_attention", mutates_args=())
def _channel_attention_op(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                          b2: torch.Tensor, t: Optional[torch.Tensor], use_max: bool) -> torch.Tensor:
    return _kernels.channel_attention_kernel(x, w1, b1, w2, b2, t, use_max)


@_channel_attention_op.register_fake
def _(x, w1, b1, w2, b2, t, use_max):
    return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=_kernels.memory_format(x))


@torch.library.custom_op("edgefashion::spatial_gate", mutates_args=())
def _spatial_gate_op(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return _kernels.spatial_gate_kernel(x, w, b)


@_spatial_gate_op.register_fake
def _(x, w, b):
    n, _, h, wd = x.shape
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=_kernels.memory_format(x))
    return y, x.new_empty((n, 1, h, wd))


_channel_attention_op.register_autograd(channel_attention_backward, setup_context=channel_attention_setup)
_spatial_gate_op.register_autograd(spatial_gate_backward, setup_context=spatial_gate_setup)


# ---------------------------------------------------------------- the callables _dispatch uses


def _inference_call(*tensors: Optional[torch.Tensor]) -> bool:
    """True when the kernel may be called directly: no autograd, compiler or tracer (the TorchScript ONNX
    exporter traces; torch.export and the dynamo ONNX exporter compile) involved."""
    if torch.compiler.is_compiling() or torch._C._get_tracing_state() is not None:
        return False
    if not torch.is_grad_enabled():
        return True
    return not any(t is not None and t.requires_grad for t in tensors)


def channel_attention(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                      t: Optional[torch.Tensor] = None, use_max: bool = True) -> torch.Tensor:
    """The fused op, signature of channel_attention_ref. x, t: (N, C, H, W) -> y: (N, C, H, W)."""
    if _inference_call(x, w1, b1, w2, b2, t):
        return _kernels.channel_attention_kernel(x, w1, b1, w2, b2, t, use_max)
    return torch.ops.edgefashion.channel_attention(x, w1, b1, w2, b2, t, use_max)


def spatial_gate(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused op, signature of spatial_gate_ref. x: (N, C, H, W) -> (y, g: (N, 1, H, W))."""
    if _inference_call(x, w, b):
        return _kernels.spatial_gate_kernel(x, w, b)
    y, g = torch.ops.edgefashion.spatial_gate(x, w, b)
    return y, g


# _dispatch calls these with the reference's signature and asks ``.supports(x)`` first.
channel_attention.supports = _kernels.runs  # type: ignore[attr-defined]
spatial_gate.supports = _kernels.runs  # type: ignore[attr-defined]
_OPS = {"channel_attention": channel_attention, "spatial_gate": spatial_gate}


def available_ops() -> dict[str, Callable]:
    """name -> fused callable for the ops that have a compiled kernel (empty without edgefashion._C).
    The same dict on every call (it is looked up per op call): do not modify it."""
    return _OPS if _kernels.has_cpu() else _NONE


_NONE: dict[str, Callable] = {}


def export_ops() -> dict[str, Callable]:
    """The custom ops used while exporting under :func:`custom_op_export`, built kernel or not."""
    return dict(_OPS)


def kernel_report() -> dict:
    """Which kernels this build has, for ``edgefashion env``: {op: {"cpu": bool, "cuda": bool}, ...}."""
    cpu, cuda = _kernels.has_cpu(), _kernels.has_cuda()
    report: dict = {name: {"cpu": cpu, "cuda": cuda} for name in _OPS}
    if _kernels._C is not None:
        report["cpu_isa"] = _kernels._C.cpu_isa()
        report["openmp"] = bool(_kernels._C.openmp)
        report["cuda_archs"] = _kernels._C.cuda_archs or "none (built without nvcc)"
    return report


# ---------------------------------------------------------------- ONNX export with custom nodes


@contextlib.contextmanager
def custom_op_export() -> Iterator[None]:
    """Within this block, torch.onnx.export(..., dynamo=False) emits edgefashion::ChannelAttention /
    edgefashion::SpatialGate nodes instead of the reference decomposition."""
    from edgefashion.ops import _fused_onnx

    _fused_onnx.register_symbolics()
    previous = set_custom_op_export(True)
    try:
        yield
    finally:
        set_custom_op_export(previous)
        if not previous:
            _fused_onnx.unregister_symbolics()
