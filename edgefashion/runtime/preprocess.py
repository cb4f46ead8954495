"""The one preprocessing implementation (OpenCV + numpy), shared by training and every runtime.

BGR uint8 image -> optional box crop -> resize -> RGB -> float32 -> (x/255 - mean)/std -> (3, H, W).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

from edgefashion.config_dict import strict_from_dict
from edgefashion.errors import BadInput

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("stretch", "letterbox", "center_crop")


@dataclass(frozen=True)
class PreprocessConfig:
    """How an image becomes a model input. Recorded in every artifact's metadata."""

    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    color: str = "rgb"          # channel order the model expects
    resize: str = "stretch"     # the paper: crop the garment box, resize to 224 x 224
    bbox_margin: float = 0.0    # fraction of the box size added on each side before cropping

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if int(self.input_size) < 8:
            raise BadInput(f"input_size {self.input_size} is too small; use at least 8 pixels")
        if self.color not in ("rgb", "bgr"):
            raise BadInput(f"color {self.color!r} must be 'rgb' or 'bgr'")
        if self.resize not in RESIZE_MODES:
            raise BadInput(f"resize {self.resize!r} must be one of {', '.join(RESIZE_MODES)}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise BadInput(f"mean {self.mean} / std {self.std} need 3 values each, std > 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "PreprocessConfig":
        return strict_from_dict(cls, d, "preprocessing options")


def crop_region(shape: Sequence[int], bbox: Sequence[float] | None, margin: float = 0.0
                ) -> tuple[int, int, int, int]:
    """The pixel rectangle (x1, y1, x2, y2) that ``crop_box`` keeps of an image of ``shape``."""
    h, w = shape[:2]
    if bbox is None:
        return 0, 0, w, h
    if len(bbox) != 4:
        raise BadInput(f"bbox {tuple(bbox)} must be (x1, y1, x2, y2)")
    x1, y1, x2, y2 = (float(v) for v in bbox)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    x1, y1 = max(0, int(round(x1 - mx))), max(0, int(round(y1 - my)))
    x2, y2 = min(w, int(round(x2 + mx))), min(h, int(round(y2 + my)))
    if x2 <= x1 or y2 <= y1:
        raise BadInput(f"bbox {tuple(bbox)} is empty inside a {w}x{h} image; check its coordinates")
    return x1, y1, x2, y2


def crop_box(img: np.ndarray, bbox: Sequence[float] | None, margin: float = 0.0) -> np.ndarray:
    """Crop ``img`` to ``bbox = (x1, y1, x2, y2)`` in pixels, clamped to the image."""
    if bbox is None:
        return img
    x1, y1, x2, y2 = crop_region(img.shape, bbox, margin)
    return img[y1:y2, x1:x2]


def resize(img: np.ndarray, size: int, mode: str) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    interp = cv2.INTER_AREA if max(h, w) > size else cv2.INTER_LINEAR
    if mode == "stretch":
        return cv2.resize(img, (size, size), interpolation=interp)
    if mode == "center_crop":
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        return cv2.resize(img[y0:y0 + s, x0:x0 + s], (size, size), interpolation=interp)
    scale = size / max(h, w)  # letterbox: keep aspect, pad with grey
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(img, (nw, nh), interpolation=interp)
    out = np.full((size, size, 3), 114, np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = small
    return out


def input_geometry(shape: Sequence[int], cfg: PreprocessConfig, bbox=None
                   ) -> tuple[float, float, float, float]:
    """(sx, sy, ox, oy) with  u = (x - ox) / sx,  v = (y - oy) / sy : image pixels (x, y) ->
    coordinates normalised to the model input (0 = left / top edge, 1 = right / bottom edge).

    Follows ``preprocess`` exactly: the box crop, then stretch / center_crop / letterbox.
    """
    x1, y1, x2, y2 = crop_region(shape, bbox, cfg.bbox_margin) if bbox is not None else (
        0, 0, shape[1], shape[0])
    w, h = x2 - x1, y2 - y1
    if cfg.resize == "stretch":
        return float(w), float(h), float(x1), float(y1)
    if cfg.resize == "center_crop":
        s = min(w, h)
        return float(s), float(s), float(x1 + (w - s) // 2), float(y1 + (h - s) // 2)
    size = cfg.input_size  # letterbox: the image occupies (nw, nh) of the square, centred
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    # u = (x0 + (x - x1) * nw / w) / size  ->  sx = w * size / nw,  ox = x1 - x0 * w / nw
    return w * size / nw, h * size / nh, x1 - x0 * w / nw, y1 - y0 * h / nh


def image_to_input(points: np.ndarray, shape: Sequence[int], cfg: PreprocessConfig, bbox=None
                   ) -> np.ndarray:
    """(..., 2+) image pixel points -> normalised model-input coordinates (extra columns kept)."""
    sx, sy, ox, oy = input_geometry(shape, cfg, bbox)
    out = np.array(points, np.float32, copy=True)
    out[..., 0] = (out[..., 0] - ox) / sx
    out[..., 1] = (out[..., 1] - oy) / sy
    return out


def input_to_image(points: np.ndarray, shape: Sequence[int], cfg: PreprocessConfig, bbox=None
                   ) -> np.ndarray:
    """The inverse of ``image_to_input``: model outputs such as landmarks back to image pixels."""
    sx, sy, ox, oy = input_geometry(shape, cfg, bbox)
    out = np.array(points, np.float32, copy=True)
    out[..., 0] = out[..., 0] * sx + ox
    out[..., 1] = out[..., 1] * sy + oy
    return out


def preprocess(img_bgr: np.ndarray, cfg: PreprocessConfig, bbox=None,
               out: np.ndarray | None = None) -> np.ndarray:
    """uint8 BGR (H, W, 3) -> float32 (3, S, S) normalised. Writes into ``out`` when given."""
    img = resize(crop_box(img_bgr, bbox, cfg.bbox_margin), cfg.input_size, cfg.resize)
    if cfg.color == "rgb":
        img = img[:, :, ::-1]
    # (x/255 - mean)/std == x*scale + shift, one fused pass per channel
    scale = 1.0 / (255.0 * np.asarray(cfg.std, np.float32))
    shift = -np.asarray(cfg.mean, np.float32) / np.asarray(cfg.std, np.float32)
    if cfg.color == "bgr":
        scale, shift = scale[::-1], shift[::-1]
    if out is None:
        out = np.empty((3, cfg.input_size, cfg.input_size), np.float32)
    chw = img.transpose(2, 0, 1)
    np.multiply(chw, scale[:, None, None], out=out, casting="unsafe")
    out += shift[:, None, None]
    return out


def preprocess_batch(images: Sequence[np.ndarray], cfg: PreprocessConfig,
                     bboxes: Sequence | None = None) -> np.ndarray:
    """List of BGR images -> float32 (N, 3, S, S)."""
    batch = np.empty((len(images), 3, cfg.input_size, cfg.input_size), np.float32)
    for i, img in enumerate(images):
        preprocess(img, cfg, None if bboxes is None else bboxes[i], out=batch[i])
    return batch
