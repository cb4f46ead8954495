"""WiSE-FT (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022): a weight-space
ensemble of the model before and after fine-tuning.

With 200-600 training photos, fine-tuning the whole network gains on some attribute groups and loses
on others what the heads fitted on the frozen features (LP-FT's first step) already had. Both models
share the pretrained start, so their weights lie in one basin and the straight line between them is a
path of working models: ``(1 - alpha) * start + alpha * end``. The trainer scores a few points on that
line on validation beside the epochs and keeps the best in best.pt (``TrainConfig.wise_ft``), at the
cost of a validation pass per point and none at inference: the result is one model of the same size.
"""
from __future__ import annotations

import torch


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module``'s state dict."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def interpolate(start: dict[str, torch.Tensor], end: dict[str, torch.Tensor],
                alpha: float) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * start + alpha * end`` for every floating-point tensor; counters (e.g. batch
    norms' num_batches_tracked) come from ``end``."""
    if start.keys() != end.keys():
        missing = sorted(set(start) ^ set(end))[:5]
        raise ValueError(f"the two states differ in their tensors (e.g. {missing}); "
                         "interpolate states of one architecture")
    out = {}
    for k, e in end.items():
        s = start[k]
        if s.shape != e.shape:
            raise ValueError(f"tensor {k!r} has shape {tuple(s.shape)} at the start and "
                             f"{tuple(e.shape)} at the end; interpolate states of one architecture")
        out[k] = torch.lerp(s.to(e.dtype), e, float(alpha)) if e.is_floating_point() else e.clone()
    return out
