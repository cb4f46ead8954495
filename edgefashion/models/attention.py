"""The two attention blocks as modules; the math lives in edgefashion.ops (reference or fused)."""
from __future__ import annotations

import torch
from torch import nn

from edgefashion import ops


class SpatialGate(nn.Module):
    """g = sigmoid(w . x + b) per pixel (a 1x1 conv to one channel); y = x * g."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.zeros(1))
        nn.init.normal_(self.weight, std=channels ** -0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return ops.spatial_gate(x, self.weight, self.bias)


class ChannelAttention(nn.Module):
    """s = sigmoid(FC2 relu(FC1 (GAP(x) [+ GMP(x)]))); y = t * s.  Reduction r: C -> C/r -> C."""

    def __init__(self, channels: int, reduction: int = 2, use_max: bool = True) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.use_max = use_max

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        return ops.channel_attention(x, self.fc1.weight, self.fc1.bias, self.fc2.weight,
                                     self.fc2.bias, t, self.use_max)
