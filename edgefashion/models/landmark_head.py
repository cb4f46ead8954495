"""A heatmap landmark head for models on staged backbones (``msfan_lite`` with ``landmarks=True``).

FPN-style, so a pretrained EfficientNet-Lite's features localise: the stride-16 features (in
msfan_lite: the anchor stage after MSFAN's product) -> 1x1 conv to ``channels``; then for each
finer backbone stage (stride 8, then 4) a x2 nearest upsampling plus a 1x1 lateral of that stage,
and a 3x3 conv + BN + ReLU; a 1x1 conv to K heatmaps at stride 4 (40 x 40 at 160 px), regressed to
Gaussian targets as in landmark_attention (``heatmaps.masked_heatmap_l2``). Landmarks (N, K, 3):
x, y by soft-argmax, normalised to the model input; confidence = the heatmap peak in [0, 1].

``landmark_loss``: landmark_attention's loss (category CE + attribute BCE + lambda * heatmap L2)
plus ``coord_weight`` * the mean Euclidean distance between the soft-argmax points and the visible
ground truth -- the normalized distance itself (integral regression). On small data the heatmap
L2 alone starts from all-zero maps whose soft-argmax sits at the image centre and learns slowly;
the distance term gives every pixel a gradient towards the point from the first step.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgefashion.models.heatmaps import peak_confidence, soft_argmax


def _conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class LandmarkHead(nn.Module):
    """top (N, C_top, h, w) + laterals [(N, C_i, 2^i h, 2^i w), ...] -> heatmaps (N, K, 2^n h, 2^n w)."""

    def __init__(self, top_channels: int, lateral_channels: Sequence[int], points: int,
                 channels: int = 64) -> None:
        super().__init__()
        self.reduce = _conv_bn_relu(top_channels, channels, 1)
        self.laterals = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in lateral_channels)
        self.smooth = nn.ModuleList(_conv_bn_relu(channels, channels, 3) for _ in lateral_channels)
        self.out = nn.Conv2d(channels, points, 1)
        nn.init.normal_(self.out.weight, std=1e-3)  # start near the all-zero map (as landmark_attention)
        nn.init.zeros_(self.out.bias)

    def forward(self, top: torch.Tensor, laterals: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self.reduce(top)
        for lat, smooth, f in zip(self.laterals, self.smooth, laterals):
            # a static scale factor keeps the exported graph free of shape arithmetic
            x = smooth(F.interpolate(x, scale_factor=2, mode="nearest") + lat(f))
        return self.out(x)


def read_landmarks(heatmaps: torch.Tensor, beta: float) -> torch.Tensor:
    """(N, K, H, W) -> (N, K, 3): soft-argmax (x, y) normalised to the input, peak confidence."""
    return torch.cat([soft_argmax(heatmaps, beta), peak_confidence(heatmaps).unsqueeze(-1)], dim=-1)


class DistanceLoss(nn.Module):
    """base(out, batch) + weight * mean distance of out["landmarks"] to the visible batch points.

    Reported as "landmark_distance"; skipped (0) without batch landmarks or visible points.
    """

    def __init__(self, base: nn.Module, weight: float) -> None:
        super().__init__()
        self.base, self.weight = base, float(weight)

    def forward(self, out: dict, batch: dict) -> dict:
        parts = self.base(out, batch)
        pred, points = out.get("landmarks"), batch.get("landmarks")
        visible = points[..., 2] > 0 if points is not None and pred is not None else None
        if visible is None or not bool(visible.any()):
            parts["landmark_distance"] = parts["loss"].new_zeros(())
            return parts
        diff = pred[..., :2] - points[..., :2].to(pred.dtype)
        dist = (diff.pow(2).sum(-1) + 1e-12).sqrt()[visible].mean()  # eps: finite gradient at 0
        parts["landmark_distance"] = dist
        if self.weight:
            parts["loss"] = parts["loss"] + self.weight * dist
        return parts


def default_loss(schema, train_samples, train_cfg) -> nn.Module:
    """The default category + attribute loss (losses.multitask.MultiTaskLoss)."""
    from edgefashion.models.landmark_attention import _base_loss

    return _base_loss(schema, train_samples, train_cfg)


def landmark_loss(schema, train_samples, train_cfg, heatmap_weight: float, sigma: float,
                  coord_weight: float) -> nn.Module:
    """Category CE + attribute BCE + heatmap_weight * heatmap L2 + coord_weight * distance."""
    from edgefashion.models.landmark_attention import LandmarkLoss, _base_loss

    heat = LandmarkLoss(_base_loss(schema, train_samples, train_cfg), heatmap_weight, sigma)
    return DistanceLoss(heat, coord_weight)
