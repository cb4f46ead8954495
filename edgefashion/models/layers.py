"""Small pieces every model shares: the FC classification head and the tracing check."""
from __future__ import annotations

import warnings

import torch
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
