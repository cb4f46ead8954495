"""Sigmoid spatial gating (1x1 conv to one channel): the public entry point the models call."""
from __future__ import annotations

import torch

from edgefashion.ops import _dispatch
from edgefashion.ops.reference import spatial_gate_ref


def spatial_gate(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (N, C, H, W), w: (C,), b: (1,) -> (y = x * g, g: (N, 1, H, W))."""
    fused = _dispatch.fused_op("spatial_gate", x)
    if fused is not None:
        return fused(x, w, b)
    return spatial_gate_ref(x, w, b)
