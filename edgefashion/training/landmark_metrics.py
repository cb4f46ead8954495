"""Landmark metrics (numpy only), as the landmark-driven attention paper evaluates them.

Normalized distance: the Euclidean distance between predicted and true landmark positions in
coordinates normalised to the model input (so 0.05 is 5 % of the 224 px side, 11 px), averaged
over the visible points, per landmark; "overall" is the mean of the per-landmark values (the
paper's Table 1 "Avg": 0.0474). Points count where the ground-truth weight is > 0 (visible).
Detection rate at t: the fraction of visible points whose distance is at most t.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from edgefashion.errors import ShapeError
from edgefashion.labels.landmarks import LANDMARK_NAMES

DETECTION_THRESHOLDS = (0.02, 0.05, 0.1)


def landmark_distances(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pred: (N, K, >=2) and true: (N, K, 3) (x, y, weight) -> distances (N, K), visible (N, K)."""
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    if pred.ndim != 3 or true.ndim != 3 or pred.shape[:2] != true.shape[:2] or pred.shape[2] < 2 \
            or true.shape[2] < 3:
        raise ShapeError(f"landmark predictions {pred.shape} and ground truth {true.shape} must be "
                         "(N, K, 2+) and (N, K, 3) with the same N and K")
    dist = np.sqrt(((pred[..., :2] - true[..., :2]) ** 2).sum(-1))
    return dist, true[..., 2] > 0


def landmark_report(pred: np.ndarray, true: np.ndarray, names: Sequence[str] | None = None,
                    thresholds: Sequence[float] = DETECTION_THRESHOLDS) -> dict:
    """-> {"landmark_normalized_distance": {name: d, ..., "overall": d},
    "landmark_detection_rate": {"0.05": r, ...}, "landmark_points": visible count}.

    A landmark never visible gets NaN and is left out of "overall" (the mean over landmarks).
    """
    dist, vis = landmark_distances(pred, true)
    k = dist.shape[1]
    names = list(names) if names is not None and len(names) == k else (
        list(LANDMARK_NAMES) if k == len(LANDMARK_NAMES) else [f"landmark{i}" for i in range(k)])
    per = {}
    for j, name in enumerate(names):
        d = dist[vis[:, j], j]
        per[name] = float(d.mean()) if d.size else float("nan")
    seen = dist[vis]
    means = [v for v in per.values() if not np.isnan(v)]
    per["overall"] = float(np.mean(means)) if means else float("nan")
    rates = {f"{t:g}": float((seen <= t).mean()) if seen.size else float("nan") for t in thresholds}
    return {"landmark_normalized_distance": per, "landmark_detection_rate": rates,
            "landmark_points": int(seen.size)}
