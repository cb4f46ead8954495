"""Garment silhouettes for the synthetic dataset, in a canonical frame.

Canonical frame: x to the right, y down, the garment's top at y = 0 and centred on x = 0; one unit
is roughly a garment's height. Every builder returns a ``Shape``: filled pieces (torso / legs /
sleeves), cut-outs (the neck hole), the 8 landmark slots it defines (LANDMARK_NAMES order; the
"left" point is the one at smaller x), and decorations (belt, pockets, buttons, rib bands, seams).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Point = tuple[float, float]


@dataclass
class Shape:
    pieces: list[np.ndarray] = field(default_factory=list)       # (K, 2) polygons, filled
    cutouts: list[np.ndarray] = field(default_factory=list)      # (K, 2) polygons, removed
    landmarks: dict[int, Point] = field(default_factory=dict)    # slot -> (x, y)
    bands: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (rib|belt|pocket|buckle, quad)
    lines: list[np.ndarray] = field(default_factory=list)        # seams, pleats: (2, 2) segments
    buttons: list[Point] = field(default_factory=list)           # centres; radius BUTTON_R

    def points(self) -> np.ndarray:
        return np.concatenate(self.pieces)


BUTTON_R = 0.018


def _mirror(poly: np.ndarray) -> np.ndarray:
    return poly * np.array([-1.0, 1.0])


def _quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], np.float64)


def _hem(x_half: float, y: float, sag: float, n: int = 7) -> list[Point]:
    """Hem points from right to left, sagging by ``sag`` in the middle."""
    xs = np.linspace(x_half, -x_half, n)
    return [(float(x), float(y + sag * (1 - (x / x_half) ** 2))) for x in xs]


def _neck(rng: np.random.Generator, nw: float, neckline: str, deep: bool) -> np.ndarray:
    if neckline == "v_neck":
        return np.array([(-nw, -0.02), (nw, -0.02), (0.0, rng.uniform(0.2, 0.28))])
    depth = rng.uniform(0.12, 0.16) if deep else nw * rng.uniform(0.7, 0.9)
    t = np.linspace(0, np.pi, 13)
    return np.stack([nw * np.cos(t), depth * np.sin(t) - 0.01], axis=1)


def _sleeve(rng: np.random.Generator, s: Point, a: Point, sleeve: str) -> tuple[np.ndarray, Point]:
    """Left sleeve attached along shoulder s - armpit a; returns (polygon, cuff centre)."""
    long = sleeve == "long_sleeve"
    phi = np.radians(rng.uniform(18, 32) if long else rng.uniform(45, 65))
    length = rng.uniform(0.6, 0.72) if long else rng.uniform(0.17, 0.23)
    ratio = rng.uniform(0.55, 0.7) if long else rng.uniform(0.85, 1.0)
    d = np.array([-np.sin(phi), np.cos(phi)])
    n = np.array([-np.cos(phi), -np.sin(phi)])  # across the sleeve, towards the shoulder side
    s_, a_ = np.asarray(s), np.asarray(a)
    cuff = (s_ + a_) / 2 + d * length
    half = np.linalg.norm(s_ - a_) / 2 * ratio
    poly = np.stack([s_, cuff + n * half, cuff - n * half, a_])
    return poly, (float(cuff[0]), float(cuff[1]))


def _upper_body(rng, sleeve: str, neckline: str, shape: Shape) -> tuple[list[Point], dict]:
    """Shoulders, armholes / sleeves and neck. Returns the torso's left side (neck down to the
    armpit) and the measures the lower part needs; sleeves, neck hole and slots 0-3 go to ``shape``."""
    sw, nw = rng.uniform(0.26, 0.31), rng.uniform(0.085, 0.11)
    cw, ay = sw * rng.uniform(0.92, 1.0), rng.uniform(0.24, 0.3)
    if sleeve == "sleeveless":
        nw *= 1.15
        so = nw + rng.uniform(0.06, 0.09)
        left = [(-nw, 0.0), (-so, 0.0), (-so - 0.02, ay * 0.45), (-cw * 0.97, ay * 0.85), (-cw, ay + 0.03)]
        arm = (-(so + cw) / 2, ay * 0.5)
    else:
        left = [(-nw, 0.0), (-sw, 0.05), (-cw, ay)]
        poly, arm = _sleeve(rng, (-sw, 0.05), (-cw, ay), sleeve)
        shape.pieces += [poly, _mirror(poly)]
    shape.cutouts.append(_neck(rng, nw, neckline, deep=sleeve == "sleeveless"))
    shape.landmarks.update({0: (-nw, 0.0), 1: (nw, 0.0), 2: arm, 3: (-arm[0], arm[1])})
    return left, {"cw": cw, "ay": ay, "nw": nw}


def _torso(left: list[Point], bottom: list[Point]) -> np.ndarray:
    """Close the torso: left side, ``bottom`` (left to right), mirrored right side."""
    right = [(-x, y) for x, y in reversed(left)]
    return np.array(left + bottom + right, np.float64)


def top(rng, sleeve: str, neckline: str, parts: set[str], ribbed: bool) -> Shape:
    """Tee / tank / sweater: torso, sleeves of the given length, neck hole."""
    shape = Shape()
    length = rng.uniform(0.72, 0.85)
    left, geo = _upper_body(rng, sleeve, neckline, shape)
    hw = geo["cw"] * rng.uniform(0.95, 1.08)
    shape.pieces.insert(0, _torso(left, [(-hw, length), (hw, length)]))
    shape.landmarks.update({6: (-hw, length), 7: (hw, length)})
    if ribbed:
        shape.bands.append(("rib", _quad(-hw, length - 0.07, hw, length)))
        for piece in shape.pieces[1:]:  # cuffs: the last 12% of each sleeve
            s, c0, c1, a = piece
            shape.bands.append(("rib", np.stack([s + (c0 - s) * 0.88, c0, c1, a + (c1 - a) * 0.88])))
    _top_parts(shape, parts, geo, length)
    return shape


def dress(rng, sleeve: str, neckline: str, parts: set[str]) -> Shape:
    """Bodice with sleeves / straps, waist, flared skirt."""
    shape = Shape()
    left, geo = _upper_body(rng, sleeve, neckline, shape)
    wy, ww = rng.uniform(0.34, 0.4), geo["cw"] * rng.uniform(0.8, 0.9)
    hy, hem_w = rng.uniform(1.0, 1.25), rng.uniform(0.42, 0.55)
    bottom = [(-ww, wy)] + _hem(hem_w, hy, rng.uniform(0.0, 0.05))[::-1] + [(ww, wy)]
    shape.pieces.insert(0, _torso(left, bottom))
    shape.landmarks.update({4: (-ww, wy), 5: (ww, wy), 6: (-hem_w, hy), 7: (hem_w, hy)})
    if "belt" in parts:
        _belt(shape, ww * 1.02, wy - 0.025, wy + 0.025)
    if "buttons" in parts:
        shape.buttons += [(0.0, float(y)) for y in np.linspace(0.3, wy - 0.04, 3)]
    if "pockets" in parts:
        for sx in (-1, 1):
            x = sx * hem_w * 0.45
            shape.bands.append(("pocket", _quad(x - 0.06, wy + 0.2, x + 0.06, wy + 0.32)))
    return shape


def trousers(rng, parts: set[str], short: bool) -> Shape:
    """Waistband, hips and two legs (long, or short and wide for shorts)."""
    ww = rng.uniform(0.2, 0.25)
    if short:
        hy, ho, hi, hip_y = rng.uniform(0.36, 0.44), rng.uniform(0.3, 0.35), rng.uniform(0.05, 0.09), 0.15
        cy = hy * rng.uniform(0.5, 0.62)
    else:
        hy, ho, hip_y = 1.0, rng.uniform(0.22, 0.3), 0.22
        hi, cy = max(0.02, ho - rng.uniform(0.15, 0.2)), rng.uniform(0.28, 0.34)
    hip = ww * rng.uniform(1.05, 1.12)
    poly = [(-ww, 0.0), (ww, 0.0), (hip, hip_y), (ho, hy), (hi, hy), (0.0, cy),
            (-hi, hy), (-ho, hy), (-hip, hip_y)]
    shape = Shape(pieces=[np.array(poly, np.float64)])
    shape.landmarks = {4: (-ww, 0.0), 5: (ww, 0.0), 6: (-(ho + hi) / 2, hy), 7: ((ho + hi) / 2, hy)}
    shape.lines += [np.array([(-ww, 0.06), (ww, 0.06)]), np.array([(0.0, 0.06), (0.0, cy * 0.75)])]
    _lower_parts(shape, parts, ww)
    return shape


def skirt(rng, parts: set[str]) -> Shape:
    """Flared skirt: narrow waist, wide curved hem, optional pleats."""
    tw, hy, hw = rng.uniform(0.19, 0.24), rng.uniform(0.5, 0.8), rng.uniform(0.38, 0.5)
    poly = [(-tw, 0.0), (tw, 0.0)] + _hem(hw, hy, rng.uniform(0.02, 0.06))
    shape = Shape(pieces=[np.array(poly, np.float64)])
    shape.landmarks = {4: (-tw, 0.0), 5: (tw, 0.0), 6: (-hw, hy), 7: (hw, hy)}
    shape.lines.append(np.array([(-tw, 0.06), (tw, 0.06)]))
    if rng.random() < 0.4:  # pleats fanning out from the waist
        for t in np.linspace(-0.7, 0.7, 5):
            shape.lines.append(np.array([(t * tw, 0.06), (t * hw, hy)]))
    _lower_parts(shape, parts, tw)
    return shape


def _belt(shape: Shape, half: float, y0: float, y1: float) -> None:
    shape.bands.append(("belt", _quad(-half, y0, half, y1)))
    h = (y1 - y0) * 0.8
    shape.bands.append(("buckle", _quad(-h, y0 - 0.005, h, y1 + 0.005)))


def _top_parts(shape: Shape, parts: set[str], geo: dict, length: float) -> None:
    if "buttons" in parts:
        shape.buttons += [(0.0, float(y)) for y in np.linspace(0.25, length - 0.1, 4)]
    if "pockets" in parts:
        x, y = -geo["cw"] * 0.5, geo["ay"] + 0.02
        shape.bands.append(("pocket", _quad(x - 0.06, y, x + 0.06, y + 0.12)))


def _lower_parts(shape: Shape, parts: set[str], ww: float) -> None:
    if "belt" in parts:
        _belt(shape, ww, 0.005, 0.055)
    if "buttons" in parts:
        shape.buttons.append((0.0, 0.09))
    if "pockets" in parts:
        for sx in (-1, 1):
            x = sx * ww * 0.55
            shape.bands.append(("pocket", _quad(x - 0.055, 0.1, x + 0.055, 0.21)))
