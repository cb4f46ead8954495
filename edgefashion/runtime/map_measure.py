"""Does a map point at the garment? The share of a map's mass inside the garment box.

    box = box_to_input((x1, y1, x2, y2), image.shape, preprocess_config)   # image px -> input [0, 1]
    m = map_in_box(prediction_map, box)          # m.mass_share, m.area_share, m.points_at

Both shares are taken over the model input (the unit square): ``area_share`` is the box's share of
it, which is what a uniform map puts inside the box, so a map points at the garment when its
``mass_share`` exceeds ``area_share``. Run the model on the whole photo (no box crop) to measure
where it looks. numpy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgefashion.errors import BadInput, ShapeError
from edgefashion.runtime.preprocess import PreprocessConfig, input_geometry


@dataclass(frozen=True)
class MapInBox:
    """mass_share: the map's mass inside the box / its total (nan for an all-zero map);
    area_share: the box's area / the model input's area."""

    mass_share: float
    area_share: float

    @property
    def points_at(self) -> bool:
        """True when the map puts more of its mass in the box than a uniform map would."""
        return self.mass_share > self.area_share  # nan compares False


def box_to_input(box: Sequence[float], image_shape: Sequence[int], cfg: PreprocessConfig
                 ) -> tuple[float, float, float, float]:
    """A box (x1, y1, x2, y2) in pixels of the whole image -> the same box in model-input
    coordinates normalised to [0, 1] (0 = left / top edge), clipped to the input.

    Follows the preprocessing of the whole image (no box crop): stretch, letterbox or center_crop.
    """
    if len(box) != 4:
        raise BadInput(f"box {tuple(box)} must be (x1, y1, x2, y2) in pixels")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not x2 > x1 or not y2 > y1:
        raise BadInput(f"box {tuple(box)} is empty; x2 must exceed x1 and y2 exceed y1")
    sx, sy, ox, oy = input_geometry(image_shape, cfg)
    u = np.clip([(x1 - ox) / sx, (x2 - ox) / sx], 0.0, 1.0)
    v = np.clip([(y1 - oy) / sy, (y2 - oy) / sy], 0.0, 1.0)
    return float(u[0]), float(v[0]), float(u[1]), float(v[1])


def cell_overlap(lo: float, hi: float, n: int) -> np.ndarray:
    """(n,) fraction of each of ``n`` equal cells of [0, 1] that lies inside [lo, hi]."""
    edges = np.arange(n + 1, dtype=np.float64) / n
    return np.clip(np.minimum(hi, edges[1:]) - np.maximum(lo, edges[:-1]), 0.0, None) * n


def map_in_box(heat: np.ndarray, box: Sequence[float]) -> MapInBox:
    """heat: (h, w) >= 0 over the model input; box: (u1, v1, u2, v2) in [0, 1] input coordinates.

    Each cell of the map covers an equal part of the input; a cell the box edge cuts counts with the
    fraction of it inside the box, so a coarse map (a 5 x 5 cam) is measured without resampling.
    """
    heat = np.asarray(heat, np.float64)
    if heat.ndim == 3 and heat.shape[0] == 1:
        heat = heat[0]
    if heat.ndim != 2 or heat.size == 0:
        raise ShapeError(f"a map must be (h, w) or (1, h, w) with h, w > 0; got shape {heat.shape}")
    if not np.all(np.isfinite(heat)) or heat.min() < 0:
        raise BadInput(f"a map must be finite and >= 0; its values range over "
                       f"[{np.nanmin(heat):.4g}, {np.nanmax(heat):.4g}]")
    u1, v1, u2, v2 = (float(b) for b in box)
    if not (0.0 <= u1 <= u2 <= 1.0 and 0.0 <= v1 <= v2 <= 1.0):
        raise BadInput(f"box {tuple(box)} must satisfy 0 <= u1 <= u2 <= 1 and 0 <= v1 <= v2 <= 1 "
                       "(model-input coordinates: see box_to_input)")
    h, w = heat.shape
    inside = np.outer(cell_overlap(v1, v2, h), cell_overlap(u1, u2, w))
    total = float(heat.sum())
    mass = float((heat * inside).sum()) / total if total > 0 else math.nan
    return MapInBox(mass, (u2 - u1) * (v2 - v1))


def summarise(rows: Sequence[MapInBox]) -> dict:
    """Mean mass share, mean area share and the fraction pointing at the box, over the maps with
    mass (``n``); ``empty`` counts the all-zero maps, which are left out."""
    ok = [r for r in rows if not math.isnan(r.mass_share)]
    if not ok:
        return {"n": 0, "empty": len(rows), "mass_share": None, "area_share": None,
                "points_at": None}
    return {"n": len(ok), "empty": len(rows) - len(ok),
            "mass_share": float(np.mean([r.mass_share for r in ok])),
            "area_share": float(np.mean([r.area_share for r in ok])),
            "points_at": float(np.mean([r.points_at for r in ok]))}
