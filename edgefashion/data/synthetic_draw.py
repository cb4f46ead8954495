"""Rendering a canonical garment Shape into a cluttered photo-like image (OpenCV + numpy).

Steps: background (gradient + clutter) -> random similarity transform (scale, rotation,
position; sometimes partly out of frame) -> garment mask -> texture (plain / stripes / dots /
checks, aligned with the garment) -> outlines, rib bands, belt, pockets, buttons, seams ->
optional occluder -> lighting, noise, blur. Returns the image, the garment box and landmarks.
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from edgefashion.data.sample import ABSENT, OCCLUDED, TRUNCATED, VISIBLE
from edgefashion.data.synthetic_shapes import BUTTON_R, Shape

# Named garment colours, BGR.
COLOURS = {
    "red": (40, 40, 200), "orange": (30, 140, 240), "yellow": (40, 215, 230),
    "green": (60, 160, 50), "blue": (190, 90, 30), "purple": (140, 50, 130),
    "black": (35, 35, 35), "white": (235, 235, 235),
}
SHIFT = 4  # fixed-point bits for anti-aliased sub-pixel drawing
ONE = 1 << SHIFT


def luma(bgr) -> float:
    b, g, r = (float(v) for v in bgr)
    return 0.114 * b + 0.587 * g + 0.299 * r


class Rendered(NamedTuple):
    image: np.ndarray                      # BGR uint8 (H, W, 3)
    mask: np.ndarray                       # uint8 (H, W), 255 on the garment
    bbox: tuple[int, int, int, int]        # x1, y1, x2, y2 (x2, y2 exclusive) of the mask
    landmarks: np.ndarray                  # (8, 3) x, y, visibility
    angle: float                           # rotation, degrees


def render(shape: Shape, texture: str, colour: str, rng: np.random.Generator,
           size: tuple[int, int]) -> Rendered:
    """Draw ``shape`` with the given texture and colour into a (width, height) = ``size`` image."""
    w, h = size
    base = np.clip(np.asarray(COLOURS[colour], np.float64) + rng.uniform(-18, 18, 3), 0, 255)
    img = _background(rng, w, h, base)
    angle = float(rng.uniform(-10, 10))
    m = _transform(shape, rng, w, h, angle)
    mask = np.zeros((h, w), np.uint8)
    for piece in shape.pieces:
        cv2.fillPoly(mask, [_px(piece, m)], 255, cv2.LINE_8, SHIFT)
    for cut in shape.cutouts:
        cv2.fillPoly(mask, [_px(cut, m)], 0, cv2.LINE_8, SHIFT)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:  # cannot happen with the placement limits; keep the box valid anyway
        mask[h // 2, w // 2] = 255
        ys, xs = np.array([h // 2]), np.array([w // 2])
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    tex = _texture(texture, base, rng, m, w, h)
    np.copyto(img, tex, where=mask[:, :, None] > 0)
    _decorate(img, shape, m, base, rng)
    marks = _landmarks(shape, m, w, h)
    if rng.random() < 0.06:
        _occlude(img, marks, rng, bbox)
    return Rendered(_finish(img, rng), mask, bbox, marks, angle)


def _background(rng, w: int, h: int, garment: np.ndarray) -> np.ndarray:
    for _ in range(20):  # a neutral tone that contrasts with the garment
        bg = rng.uniform(50, 225) + rng.uniform(-25, 25, 3)
        if abs(luma(bg) - luma(garment)) > 45 or np.abs(bg - garment).max() > 110:
            break
    bg2 = np.clip(bg + rng.uniform(-40, 40, 3), 0, 255)
    t = rng.uniform(0, 2 * np.pi)
    ramp = (np.float32(np.cos(t) / w) * np.arange(w, dtype=np.float32)[None, :]
            + np.float32(np.sin(t) / h) * np.arange(h, dtype=np.float32)[:, None])
    ramp -= ramp.min()
    ramp /= max(1e-6, float(ramp.max()))
    img = cv2.merge([(np.float32(b) + np.float32(d) * ramp) for b, d in zip(bg, bg2 - bg)])
    img = img.clip(0, 255).astype(np.uint8)
    if rng.random() < 0.3:  # floor boards / shelf lines
        step = int(rng.integers(8, 20)) * max(1, w // 128)
        col = tuple(int(c) for c in np.clip(bg * 0.8, 0, 255))
        for y in range(int(rng.integers(0, step)), h, step):
            cv2.line(img, (0, y), (w - 1, y + int(rng.integers(-3, 4))), col, 1, cv2.LINE_AA)
    for _ in range(int(rng.integers(1, 5))):  # clutter: random objects
        col = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.uniform(0.03, 0.1) * min(w, h))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(img, (cx - r, cy - r // 2), (cx + r, cy + r), col, -1)
        elif kind == 1:
            cv2.circle(img, (cx, cy), r, col, -1, cv2.LINE_AA)
        else:
            end = (cx + int(rng.integers(-2 * r, 2 * r + 1)), cy + int(rng.integers(-2 * r, 2 * r + 1)))
            cv2.line(img, (cx, cy), end, col, int(rng.integers(1, 4)), cv2.LINE_AA)
    return img


def _transform(shape: Shape, rng, w: int, h: int, angle: float) -> np.ndarray:
    """2x3 matrix canonical -> pixels: scale to 55-88% of the frame, rotate, place."""
    pts = shape.points()
    lo, hi = pts.min(0), pts.max(0)
    s = rng.uniform(0.55, 0.88) * min(w / (hi[0] - lo[0]), h / (hi[1] - lo[1]))
    a = np.radians(angle)
    rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    q = (pts - (lo + hi) / 2) @ rot.T
    qlo, qhi = q.min(0), q.max(0)
    slack = 0.1 * np.array([w, h]) if rng.random() < 0.1 else np.zeros(2)  # sometimes cut off
    t = np.empty(2)
    for i, extent in enumerate((w, h)):
        lo_t, hi_t = -qlo[i] - slack[i], extent - qhi[i] + slack[i]
        t[i] = rng.uniform(lo_t, hi_t) if hi_t > lo_t else extent / 2
    offset = t - rot @ ((lo + hi) / 2)
    return np.concatenate([rot, offset[:, None]], axis=1)


def _apply(pts: np.ndarray, m: np.ndarray) -> np.ndarray:
    return np.asarray(pts, np.float64) @ m[:, :2].T + m[:, 2]


def _px(pts: np.ndarray, m: np.ndarray) -> np.ndarray:
    return np.round(_apply(pts, m) * ONE).astype(np.int32)


def _texture(kind: str, base: np.ndarray, rng, m: np.ndarray, w: int, h: int) -> np.ndarray:
    """Full-frame texture image aligned with the garment (rotated with it)."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = base.astype(np.uint8)
    if kind == "plain":
        return img
    other = np.array((40, 40, 40) if luma(base) > 128 else (240, 240, 240), np.float64)
    other = base + (other - base) * rng.uniform(0.55, 0.85)  # a lighter / darker shade of the base
    other = np.clip(other + rng.uniform(-12, 12, 3), 0, 255).astype(np.uint8)
    scale = float(np.hypot(*m[:, 0]))              # pixels per canonical unit
    a = np.arctan2(m[1, 0], m[0, 0])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = xx * np.cos(a) + yy * np.sin(a)           # garment-aligned coordinates
    v = -xx * np.sin(a) + yy * np.cos(a)
    period = scale * rng.uniform(0.07, 0.11)
    u, v = u / period + rng.uniform(0, 1), v / period + rng.uniform(0, 1)
    if kind == "striped":
        coord = v if rng.random() < 0.7 else u    # mostly horizontal stripes
        on = (coord % 1.0) < rng.uniform(0.3, 0.5)
    elif kind == "dotted":
        r = rng.uniform(0.18, 0.28)
        on = ((u % 1.0) - 0.5) ** 2 + ((v % 1.0) - 0.5) ** 2 < r * r
    elif kind == "checked":
        on = (np.floor(u).astype(np.int32) + np.floor(v).astype(np.int32)) % 2 == 0
    else:
        raise ValueError(f"unknown texture {kind!r}")
    img[on] = other
    return img


def _decorate(img: np.ndarray, shape: Shape, m: np.ndarray, base: np.ndarray, rng) -> None:
    dark = tuple(int(c) for c in base * 0.45)
    rib = tuple(int(c) for c in base * 0.75)
    for kind, quad in shape.bands:
        p = _px(quad, m)
        if kind == "rib":
            cv2.fillPoly(img, [p], rib, cv2.LINE_AA, SHIFT)
            q = _apply(quad, m)
            for t in np.linspace(0.1, 0.9, 6):  # vertical ribs
                a, b = q[0] + (q[1] - q[0]) * t, q[3] + (q[2] - q[3]) * t
                cv2.line(img, _pt(a), _pt(b), dark, 1, cv2.LINE_AA, SHIFT)
        elif kind == "belt":
            col = (30, 45, 70) if luma(base) > 80 else (150, 160, 170)
            cv2.fillPoly(img, [p], col, cv2.LINE_AA, SHIFT)
        elif kind == "buckle":
            cv2.polylines(img, [p], True, (190, 200, 205), 2, cv2.LINE_AA, SHIFT)
        elif kind == "pocket":
            cv2.polylines(img, [p], True, dark, 1, cv2.LINE_AA, SHIFT)
    for seg in shape.lines:
        a, b = _apply(seg, m)
        cv2.line(img, _pt(a), _pt(b), dark, 1, cv2.LINE_AA, SHIFT)
    w = img.shape[1]
    for piece in shape.pieces:
        cv2.polylines(img, [_px(piece, m)], True, dark, max(1, w // 64), cv2.LINE_AA, SHIFT)
    radius = max(1, int(round(BUTTON_R * float(np.hypot(*m[:, 0])))))
    col = (225, 225, 225) if luma(base) < 110 else (30, 30, 30)
    for c in shape.buttons:
        cv2.circle(img, _pt(_apply(np.array([c]), m)[0]), radius * ONE, col, -1, cv2.LINE_AA, SHIFT)


def _pt(p) -> tuple[int, int]:
    return int(round(p[0] * ONE)), int(round(p[1] * ONE))


def _landmarks(shape: Shape, m: np.ndarray, w: int, h: int) -> np.ndarray:
    out = np.zeros((8, 3), np.float32)
    out[:, 2] = ABSENT
    for slot, p in shape.landmarks.items():
        x, y = _apply(np.array([p]), m)[0]
        inside = 0 <= x < w and 0 <= y < h
        out[slot] = (np.clip(x, 0, w - 1), np.clip(y, 0, h - 1), VISIBLE if inside else TRUNCATED)
    return out


def _occlude(img: np.ndarray, marks: np.ndarray, rng, bbox) -> None:
    """A hand / bag-like blob over part of the garment; covered landmarks become OCCLUDED."""
    x1, y1, x2, y2 = bbox
    cx, cy = rng.uniform(x1, x2), rng.uniform(y1, y2)
    ax, ay = (x2 - x1) * rng.uniform(0.1, 0.2), (y2 - y1) * rng.uniform(0.1, 0.2)
    col = tuple(int(c) for c in rng.integers(0, 256, 3))
    cv2.ellipse(img, (int(cx), int(cy)), (max(1, int(ax)), max(1, int(ay))), 0, 0, 360, col, -1, cv2.LINE_AA)
    inside = ((marks[:, 0] - cx) / max(ax, 1)) ** 2 + ((marks[:, 1] - cy) / max(ay, 1)) ** 2 < 1
    marks[inside & (marks[:, 2] == VISIBLE), 2] = OCCLUDED


def _finish(img: np.ndarray, rng) -> np.ndarray:
    h, w = img.shape[:2]
    light = np.float32(1.0) + np.float32(rng.uniform(-0.12, 0.12)) * (
        np.arange(h, dtype=np.float32)[:, None, None] / np.float32(h) - np.float32(0.5))
    out = img.astype(np.float32)
    out *= light
    out += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(rng.uniform(2, 8))
    out = np.clip(out, 0, 255, out=out).astype(np.uint8)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (3, 3), 0)
    return out
