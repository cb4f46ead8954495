"""Pure-PyTorch references of the fused operators: the test oracle, the fallback, the export path.

channel_attention:  a = mean_hw(x) [+ max_hw(x)];  z = relu(W1 a + b1);  s = sigmoid(W2 z + b2)
                    y = t * s[:, :, None, None]        (t defaults to x)
spatial_gate:       g = sigmoid(sum_c w_c x_c + b);    y = x * g
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def channel_attention_ref(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                          b2: torch.Tensor, t: torch.Tensor | None = None,
                          use_max: bool = True) -> torch.Tensor:
    """x, t: (N, C, H, W); w1: (C/r, C); b1: (C/r,); w2: (C, C/r); b2: (C,) -> y: (N, C, H, W)."""
    a = x.mean(dim=(2, 3))
    if use_max:
        a = a + x.amax(dim=(2, 3))
    z = F.relu(F.linear(a, w1, b1))
    s = torch.sigmoid(F.linear(z, w2, b2))
    return (x if t is None else t) * s[:, :, None, None]


def spatial_gate_ref(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (N, C, H, W); w: (C,); b: (1,) -> y: (N, C, H, W), g: (N, 1, H, W)."""
    g = torch.sigmoid(F.conv2d(x, w.reshape(1, -1, 1, 1), b.reshape(1)))
    return x * g, g
