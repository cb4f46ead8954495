"""Test-time flip averaging inside the model: ``FlipTTA(model)`` runs the image and its mirror as
one batch of 2N and averages the logits, so an exported graph carries it (``export --tta flip``).

Only the logits are averaged (``AVERAGED``); maps and landmarks come from the unflipped view, whose
geometry they describe. Every other attribute (output_names, config, ...) is the wrapped model's.
"""
from __future__ import annotations

import torch
from torch import nn

AVERAGED = ("category_logits", "attribute_logits")
TTA_MODES = ("none", "flip")


class FlipTTA(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["model"], name)

    def forward(self, image: torch.Tensor, **extra: torch.Tensor) -> dict[str, torch.Tensor]:
        n = image.shape[0]
        both = {k: torch.cat([v, v]) for k, v in extra.items()}
        out = self.model(torch.cat([image, image.flip(3)]), **both)
        return {k: (v[:n] + v[n:]) * 0.5 if k in AVERAGED else v[:n] for k, v in out.items()}
