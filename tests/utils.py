"""One tolerance table per dtype / backend comparison (atol, rtol)."""
from __future__ import annotations

TOLERANCES = {
    "fp32": (1e-5, 1e-5),
    "fp16": (2e-3, 2e-3),
    "fp64": (1e-10, 1e-10),
    # whole models: ONNX Runtime vs PyTorch eager, fp32 (different kernels, reduction order)
    "onnx_vs_torch": (1e-3, 1e-3),
}


def tol(kind: str) -> dict:
    atol, rtol = TOLERANCES[kind]
    return {"atol": atol, "rtol": rtol}
