"""Calls into edgefashion._C from torch tensors: layout choice, outputs, streams, workspace.

Private to edgefashion.ops.fused. Each ``*_kernel`` function returns new tensors computed by the
compiled kernel, or by the reference math when no kernel runs on that device / dtype (float64 for
gradcheck, bfloat16, a build without CUDA) so that the custom ops accept every input the references do.
The kernels get raw pointers (host or device) of contiguous tensors: this is the per-call fast path,
so it avoids numpy views, Stream objects and repeated capability queries.
"""
from __future__ import annotations

import torch

from edgefashion.ops.reference import channel_attention_ref, spatial_gate_ref

try:  # the compiled module; absent when the package was installed without a C++ compiler
    from edgefashion import _C
except ImportError:  # pragma: no cover - exercised on machines without the build
    _C = None

KERNEL_DTYPES = {torch.float32: "float32", torch.float16: "float16"}
_CUDA_OK: dict[int, bool] = {}  # device index -> the build has code for this GPU


def has_cpu() -> bool:
    return _C is not None


def has_cuda() -> bool:
    return _C is not None and bool(getattr(_C, "has_cuda", False))


def _cuda_ok(index: int) -> bool:
    ok = _CUDA_OK.get(index)
    if ok is None:  # Turing (sm_75) or newer, and a build with CUDA kernels
        ok = has_cuda() and torch.cuda.is_available() and torch.cuda.get_device_capability(index) >= (7, 5)
        _CUDA_OK[index] = ok
    return ok


def runs(x: torch.Tensor) -> bool:
    """Whether a compiled kernel (not the reference fallback) handles activations like ``x``."""
    if x.dim() != 4 or x.dtype not in KERNEL_DTYPES or _C is None:
        return False
    if x.is_cpu:
        return True
    return x.is_cuda and _cuda_ok(x.get_device())


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels_last when x is stored NHWC (and not also NCHW-contiguous), else contiguous_format."""
    if x.is_contiguous() or x.dim() != 4:
        return torch.contiguous_format
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def _same_place(x: torch.Tensor, tensors, dtype: torch.dtype) -> bool:
    """All ``tensors`` have ``dtype`` and live on x's device (get_device is -1 on the CPU)."""
    index, cuda = x.get_device(), x.is_cuda
    return all(v.dtype == dtype and v.is_cuda == cuda and v.get_device() == index for v in tensors)


def _stream(x: torch.Tensor) -> int:
    index = x.get_device()
    if hasattr(torch._C, "_cuda_getCurrentRawStream"):
        return torch._C._cuda_getCurrentRawStream(index)
    return torch.cuda.current_stream(x.device).cuda_stream  # pragma: no cover - older torch


class _on_device:
    """Make x's GPU current for the launch when it is not already (multi-GPU)."""

    def __init__(self, x: torch.Tensor) -> None:
        self._ctx = None
        if x.is_cuda and x.get_device() != torch.cuda.current_device():
            self._ctx = torch.cuda.device(x.device)

    def __enter__(self):
        if self._ctx is not None:
            self._ctx.__enter__()

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.__exit__(*exc)


def _dense(v: torch.Tensor, fmt=torch.contiguous_format) -> torch.Tensor:
    if fmt == torch.contiguous_format:
        return v if v.is_contiguous() else v.contiguous()
    return v if v.is_contiguous(memory_format=fmt) else v.contiguous(memory_format=fmt)


def channel_attention_kernel(x, w1, b1, w2, b2, t, use_max: bool) -> torch.Tensor:
    """The fused channel attention (a new tensor in x's memory format)."""
    ok = runs(x) and w1.dtype in KERNEL_DTYPES and _same_place(x, (w1, b1, w2, b2), w1.dtype)
    if ok:  # shapes the raw pointers rely on; anything else goes to the reference, which raises
        c, hidden = x.shape[1], w1.shape[0] if w1.dim() == 2 else -1
        ok = (w1.shape == (hidden, c) and b1.shape == (hidden,) and w2.shape == (c, hidden)
              and b2.shape == (c,))
    if not ok or (t is not None and (t.shape != x.shape or not _same_place(x, (t,), x.dtype))):
        y = channel_attention_ref(x, w1, b1, w2, b2, t, use_max)
        return y.contiguous(memory_format=memory_format(x))
    fmt = memory_format(x)
    layout = "nchw" if fmt == torch.contiguous_format else "nhwc"
    xc = _dense(x, fmt)
    tc = None if t is None else _dense(t, fmt)
    w1, b1, w2, b2 = _dense(w1), _dense(b1), _dense(w2), _dense(b2)
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=fmt)
    n, c, h, w = x.shape
    if n * c * h * w == 0:
        return y
    args = (xc.data_ptr(), 0 if tc is None else tc.data_ptr(), y.data_ptr(), w1.data_ptr(), b1.data_ptr(),
            w2.data_ptr(), b2.data_ptr(), n, c, h * w, w1.shape[0], KERNEL_DTYPES[x.dtype], KERNEL_DTYPES[w1.dtype],
            layout, use_max)
    if x.is_cpu:
        _C.channel_attention_cpu_ptr(*args, torch.get_num_threads())
        return y
    ws_bytes = _C.channel_attention_cuda_workspace_size(n, c, h * w, w1.shape[0], layout)
    ws = torch.empty(ws_bytes, dtype=torch.uint8, device=x.device)
    with _on_device(x):
        _C.channel_attention_cuda(*args, ws.data_ptr(), ws_bytes, _stream(x))
    return y


def spatial_gate_kernel(x, w, b) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused spatial gate: (y in x's memory format, g contiguous (N, 1, H, W))."""
    ok = runs(x) and w.dtype in KERNEL_DTYPES and _same_place(x, (w, b), w.dtype)
    if not ok or w.numel() != x.shape[1] or b.numel() != 1:
        y, g = spatial_gate_ref(x, w, b)
        return y.contiguous(memory_format=memory_format(x)), g.contiguous()
    fmt = memory_format(x)
    layout = "nchw" if fmt == torch.contiguous_format else "nhwc"
    xc = _dense(x, fmt)
    w, b = _dense(w), _dense(b)
    n, c, h, wd = x.shape
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=fmt)
    g = torch.empty((n, 1, h, wd), dtype=x.dtype, device=x.device)
    if n * h * wd == 0:
        return y, g
    args = (xc.data_ptr(), y.data_ptr(), g.data_ptr(), w.data_ptr(), b.data_ptr(), n, c, h * wd,
            KERNEL_DTYPES[x.dtype], KERNEL_DTYPES[w.dtype], layout)
    if x.is_cpu:
        _C.spatial_gate_cpu_ptr(*args, torch.get_num_threads())
        return y, g
    with _on_device(x):
        _C.spatial_gate_cuda(*args, _stream(x))
    return y, g
