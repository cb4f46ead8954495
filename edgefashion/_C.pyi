"""Type stubs of edgefashion._C, the fused kernels without libtorch (csrc/bindings).

CPU functions take C-contiguous numpy-compatible float32 / float16 arrays ('nchw': (N, C, *spatial);
'nhwc': (N, *spatial, C)); the ``*_cpu_ptr`` and ``*_cuda`` functions take raw addresses of contiguous
buffers (host or device), shapes, dtype names ("float32" | "float16") and, for CUDA, a cudaStream_t as
an int (0 = the legacy default stream). The CUDA functions exist only when ``has_cuda`` is True.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

has_cuda: bool
cuda_archs: str
openmp: bool

def cpu_isa() -> str:
    """'avx2' (AVX2 + FMA + F16C build) or 'baseline': which CPU build runs on this processor."""

def channel_attention_cpu(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray,
                          t: Optional[np.ndarray] = None, use_max: bool = True, layout: str = "nchw",
                          out: Optional[np.ndarray] = None, num_threads: int = 0) -> np.ndarray:
    """y = t * sigmoid(W2 relu(W1 (mean_hw(x) [+ max_hw(x)]) + b1) + b2); w1 (C/r, C), w2 (C, C/r)."""

def spatial_gate_cpu(x: np.ndarray, w: np.ndarray, b: np.ndarray, layout: str = "nchw",
                     out: Optional[np.ndarray] = None, gate_out: Optional[np.ndarray] = None,
                     num_threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(y, g): g = sigmoid(w . x + b) per pixel with C = 1, y = x * g; w (C,), b (1,)."""

def channel_attention_cpu_ptr(x: int, t: int, y: int, w1: int, b1: int, w2: int, b2: int, n: int, c: int,
                              hw: int, hidden: int, dtype: str, wtype: str, layout: str, use_max: bool,
                              num_threads: int) -> None: ...

def spatial_gate_cpu_ptr(x: int, y: int, g: int, w: int, b: int, n: int, c: int, hw: int, dtype: str,
                         wtype: str, layout: str, num_threads: int) -> None: ...

def channel_attention_cuda_workspace_size(n: int, c: int, hw: int, hidden: int, layout: str = "nchw") -> int:
    """Bytes of device scratch memory channel_attention_cuda needs."""

def channel_attention_cuda(x: int, t: int, y: int, w1: int, b1: int, w2: int, b2: int, n: int, c: int, hw: int,
                           hidden: int, dtype: str, wtype: str, layout: str, use_max: bool, workspace: int,
                           workspace_bytes: int, stream: int) -> None:
    """Enqueue on ``stream``; t = 0 means t = x."""

def spatial_gate_cuda(x: int, y: int, g: int, w: int, b: int, n: int, c: int, hw: int, dtype: str, wtype: str,
                      layout: str, stream: int) -> None:
    """Enqueue on ``stream``; g: (N, HW)."""
