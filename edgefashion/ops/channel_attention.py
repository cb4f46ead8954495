"""GAP+GMP channel attention: the public entry point the models call."""
from __future__ import annotations

import torch

from edgefashion.ops import _dispatch
from edgefashion.ops.reference import channel_attention_ref


def channel_attention(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                      b2: torch.Tensor, t: torch.Tensor | None = None,
                      use_max: bool = True) -> torch.Tensor:
    """y = t * sigmoid(W2 relu(W1 (mean_hw(x) + max_hw(x)) + b1) + b2).  x, t: (N, C, H, W)."""
    fused = _dispatch.fused_op("channel_attention", x)
    if fused is not None:
        return fused(x, w1, b1, w2, b2, t, use_max)
    return channel_attention_ref(x, w1, b1, w2, b2, t, use_max)
