"""Small pieces every model shares: the FC classification head, its class activation map, and the
tracing check."""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn


def is_tracing() -> bool:
    """True while exporting (TorchScript tracing) or compiling: skip Python-side input checks."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def fc_head(in_features: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    """FC-hidden -> ReLU -> dropout -> FC-out; ``out`` may be 0 (a schema without attributes)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                             nn.Dropout(dropout), nn.Linear(hidden, out))


def pooled_head(in_features: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    """``fc_head`` when ``hidden`` > 0, else dropout -> linear (what an ImageNet classifier is)."""
    if hidden:
        return fc_head(in_features, hidden, out, dropout)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, out))


def head_with_cam(head: nn.Sequential, features: torch.Tensor, pooled: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """features: (N, F, h, w) -> (logits (N, C) = head(pooled), raw cam (N, 1, h, w)): each
    position's exact share of the top class's logit; ``pooled``: features.mean((2, 3)) if known.

    ``head`` is ``fc_head`` (Linear W1, b1 -> ReLU -> Dropout -> Linear W2, b2) or Dropout -> Linear.
    With m = (W1 pooled + b1 > 0) and c = argmax, in eval mode
    logit_c = mean_xy cam(x, y) + W2[c] . (m * b1) + b2[c],  cam(x, y) = W2[c] . (m * W1 f(x, y)):
    the pooling is a mean and W1 is linear, so the ReLU pattern of the pooled hidden decides it all.
    """
    pooled = features.mean(dim=(2, 3)) if pooled is None else pooled
    logits = head(pooled)   # the head runs whole: hooks on it (training/head_warmup.py) still fire
    linears = [m for m in head if isinstance(m, nn.Linear)]
    top = logits.argmax(dim=1)
    if len(linears) == 1:
        v = linears[0].weight[top]                                         # (N, F)
    else:
        first, last = linears[0], linears[-1]
        mask = (F.linear(pooled, first.weight, first.bias) > 0).to(pooled.dtype)  # ReLU pattern
        v = (last.weight[top] * mask) @ first.weight                       # (N, F)
    cam = (v[:, :, None, None] * features).sum(dim=1, keepdim=True)
    return logits, cam


def normalise_cam(cam: torch.Tensor, floor: float = 0.1) -> torch.Tensor:
    """cam: (N, 1, h, w) -> its positive part divided by its maximum, in [0, 1].

    The divisor is at least ``floor`` times the map's largest magnitude, so a map whose positive
    part is small next to its negative part stays dim instead of being blown up: an error of e times
    the map's magnitude (int8 rounding: e about 0.01) moves the output by at most about 2 e / floor
    (the peak and the divisor both move), where a 1e-3 floor let one rounding flip a whole 2 x 2 map
    from 0 to 1.
    """
    pos = torch.relu(cam)
    top = pos.amax(dim=(2, 3), keepdim=True)
    scale = torch.maximum(top, cam.abs().amax(dim=(2, 3), keepdim=True) * floor)
    return pos / (scale + 1e-6)
