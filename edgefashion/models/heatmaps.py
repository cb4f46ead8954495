"""Heatmaps for the landmark and pose-guided models: Gaussian targets, soft-argmax, masked L2.

Points are NORMALISED to the model input, as in dataset items and model outputs: (N, K, 3) rows
(x, y, w) with (0, 0) the top-left corner and (1, 1) the bottom-right corner of the input
tensor, and w a weight (1 visible / used, 0 ignored). A heatmap of shape (H, W) samples those
coordinates at pixel centres, u_j = (j + 0.5) / W and v_i = (i + 0.5) / H, so a point's
Gaussian peaks in the pixel that contains it. ``sigma`` is a fraction of the map side, so one
value serves every input size (0.02 at 224 px is 4.5 px).
"""
from __future__ import annotations

from typing import Sequence

import torch

# OpenPose skeletons (limbs drawn into the VSAM attention target, as in its Fig. 2).
OPENPOSE_COCO18_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
OPENPOSE_BODY25_LIMBS = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12),
    (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20),
    (14, 21), (11, 22), (22, 23), (11, 24),
)


def default_limbs(num_points: int) -> tuple[tuple[int, int], ...]:
    """The OpenPose skeleton for 18 (COCO) or 25 (BODY_25) keypoints; no limbs otherwise."""
    return {18: OPENPOSE_COCO18_LIMBS, 25: OPENPOSE_BODY25_LIMBS}.get(int(num_points), ())


def pixel_grid(height: int, width: int, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised pixel-centre coordinates: u (1, 1, 1, W), v (1, 1, H, 1), on ref's device/dtype."""
    u = (torch.arange(width, device=ref.device, dtype=ref.dtype) + 0.5) / width
    v = (torch.arange(height, device=ref.device, dtype=ref.dtype) + 0.5) / height
    return u.view(1, 1, 1, width), v.view(1, 1, height, 1)


def gaussian_heatmaps(points: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """points: (N, K, 3) normalised (x, y, w) -> (N, K, H, W) targets in [0, 1].

    exp(-d^2 / (2 sigma^2)) around each point with w > 0; all zeros for w <= 0.
    """
    pts = points.float()
    u, v = pixel_grid(height, width, pts)
    x, y = pts[..., 0, None, None], pts[..., 1, None, None]
    d2 = (u - x) ** 2 + (v - y) ** 2
    maps = torch.exp(-d2 / (2.0 * float(sigma) ** 2))
    return maps * (pts[..., 2, None, None] > 0).to(maps.dtype)


def skeleton_heatmap(points: torch.Tensor, height: int, width: int, sigma: float,
                     limbs: Sequence[tuple[int, int]] = ()) -> torch.Tensor:
    """points: (N, K, 3) -> (N, 1, H, W): max of the points' Gaussians and of Gaussian tubes
    along the limbs whose two ends both have w > 0 (the pose heatmap of the VSAM paper)."""
    target = gaussian_heatmaps(points, height, width, sigma).amax(dim=1, keepdim=True)
    if not limbs or points.shape[1] == 0:
        return target
    pts = points.float()
    a, b = (pts[:, [i for i, _ in limbs]], pts[:, [j for _, j in limbs]])  # (N, L, 3) each
    u, v = pixel_grid(height, width, pts)
    ax, ay = a[..., 0, None, None], a[..., 1, None, None]
    dx, dy = (b[..., 0] - a[..., 0])[..., None, None], (b[..., 1] - a[..., 1])[..., None, None]
    t = (((u - ax) * dx + (v - ay) * dy) / (dx * dx + dy * dy).clamp(min=1e-12)).clamp(0.0, 1.0)
    d2 = (u - ax - t * dx) ** 2 + (v - ay - t * dy) ** 2
    on = ((a[..., 2] > 0) & (b[..., 2] > 0)).to(d2.dtype)[..., None, None]
    tubes = (torch.exp(-d2 / (2.0 * float(sigma) ** 2)) * on).amax(dim=1, keepdim=True)
    return torch.maximum(target, tubes)


def soft_argmax(heatmaps: torch.Tensor, beta: float) -> torch.Tensor:
    """(N, K, H, W) -> (N, K, 2) normalised (x, y): the softmax(beta * h)-weighted pixel centre.

    Continuous in the heatmap values (unlike argmax, which jumps between tied peaks), so ONNX
    Runtime and PyTorch agree to float precision. With heatmaps regressed to unit-peak Gaussians
    a beta of 40 puts < 0.1 % of the weight on the background of a 224 x 224 map.
    """
    n, k, h, w = heatmaps.shape
    prob = torch.softmax(heatmaps.reshape(n, k, h * w) * float(beta), dim=-1).reshape(n, k, h, w)
    u, v = pixel_grid(h, w, heatmaps)
    x = (prob.sum(dim=2) * u.view(1, 1, w)).sum(dim=-1)
    y = (prob.sum(dim=3) * v.view(1, 1, h)).sum(dim=-1)
    return torch.stack([x, y], dim=-1)


def peak_confidence(heatmaps: torch.Tensor) -> torch.Tensor:
    """(N, K, H, W) -> (N, K): the heatmap maximum clipped to [0, 1] (targets peak at 1)."""
    return heatmaps.flatten(2).amax(dim=-1).clamp(0.0, 1.0)


def masked_heatmap_l2(pred: torch.Tensor, points: torch.Tensor, sigma: float) -> torch.Tensor | None:
    """Mean squared error between ``pred`` (N, K, H, W) and the Gaussian targets of ``points``
    (N, K, 3), over the pixels of the (image, landmark) channels with w > 0 only (the paper's
    l = 1/N ||M - M'||^2, masked by visibility). None when no point is visible."""
    mask = points[..., 2] > 0
    if not bool(mask.any()):
        return None
    h, w = pred.shape[-2:]
    target = gaussian_heatmaps(points.to(pred.dtype), h, w, sigma).to(pred.dtype)
    per_channel = ((pred - target) ** 2).mean(dim=(-2, -1))
    return per_channel[mask].mean()
