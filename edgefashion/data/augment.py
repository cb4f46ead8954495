"""Training augmentation built on the one shared preprocessing (numpy + OpenCV, no torch).

Geometric augmentation only chooses WHICH region of the image becomes the model input: a random
resized crop (of the whole image, or of a jittered garment box), handed to
``runtime.preprocess.preprocess`` as its box. So the crop, the resize, the colour order and the
normalisation are exactly the runtime's, and landmarks follow through ``image_to_input`` with the
same box. Colour jitter acts on the uint8 pixels of that region before they are normalised.

With a garment box, ``context_prob`` of the time the region grows from the box towards the whole
image, so a model trained on boxed data still answers on a photo given without a box
(``Predictor("photo.jpg")``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

from edgefashion.config_dict import strict_from_dict
from edgefashion.errors import BadInput

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class AugmentConfig:
    """Random resized crop + box jitter + colour jitter (flip is the dataset's ``flip_prob``)."""

    crop_scale: tuple[float, float] = (0.35, 1.0)   # area fraction of the region kept
    crop_ratio: tuple[float, float] = (0.75, 1.3333333333333333)  # aspect change of the crop
    box_jitter: float = 0.1        # box sides move by up to this fraction of the box size
    context_prob: float = 0.3      # with a box: grow it towards the whole image this often
    brightness: float = 0.25       # pixel values scaled by U(1 - b, 1 + b)
    contrast: float = 0.25         # distance from the mean grey scaled by U(1 - c, 1 + c)
    saturation: float = 0.25       # distance from the pixel's grey scaled by U(1 - s, 1 + s)

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop_scale", tuple(float(v) for v in self.crop_scale))
        object.__setattr__(self, "crop_ratio", tuple(float(v) for v in self.crop_ratio))
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise BadInput(f"crop_scale {self.crop_scale} must satisfy 0 < min <= max <= 1")
        rlo, rhi = self.crop_ratio
        if not 0 < rlo <= rhi:
            raise BadInput(f"crop_ratio {self.crop_ratio} must satisfy 0 < min <= max")
        for name in ("box_jitter", "context_prob", "brightness", "contrast", "saturation"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise BadInput(f"{name} {v} must lie in [0, 1]")

    @property
    def has_color(self) -> bool:
        return max(self.brightness, self.contrast, self.saturation) > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "AugmentConfig":
        return strict_from_dict(cls, d, "augmentation options")


# The strength presets the training recipe names ("none" keeps the paper's flip-only training).
PRESETS = {
    "none": None,
    "light": AugmentConfig(crop_scale=(0.6, 1.0), box_jitter=0.05, context_prob=0.15,
                           brightness=0.15, contrast=0.15, saturation=0.15),
    "strong": AugmentConfig(),
    # attribute groups: a crop that keeps the garment whole (a sleeve or a hem cut away changes
    # the label), context as "strong" (a photo without a box still works: growing the box towards
    # the whole image cuts nothing), no saturation jitter (colour is a label); flips kept
    "attributes": AugmentConfig(crop_scale=(0.85, 1.0), crop_ratio=(0.9, 1.1), box_jitter=0.05,
                                context_prob=0.3, brightness=0.15, contrast=0.15, saturation=0.0),
}


def augment_preset(name: str) -> AugmentConfig | None:
    if name not in PRESETS:
        raise BadInput(f"augment {name!r} must be one of {', '.join(PRESETS)}")
    return PRESETS[name]


def random_region(shape: tuple, bbox: Box | None, cfg: AugmentConfig, rng: np.random.Generator) -> Box:
    """The (x1, y1, x2, y2) region of an (H, W, ...) image to use as the model input."""
    h, w = float(shape[0]), float(shape[1])
    if bbox is None:
        base = (0.0, 0.0, w, h)
    else:
        base = _jitter_box(bbox, w, h, cfg.box_jitter, rng)
        if rng.random() < cfg.context_prob:  # towards the whole image: the no-box photo case
            t = rng.random()
            base = tuple(b + t * (f - b) for b, f in zip(base, (0.0, 0.0, w, h)))
    return _random_crop(base, cfg, rng)


def _jitter_box(bbox: Box, w: float, h: float, j: float, rng: np.random.Generator) -> Box:
    x1, y1, x2, y2 = (float(v) for v in bbox)
    bw, bh = x2 - x1, y2 - y1
    d = rng.uniform(-j, j, 4) * np.array([bw, bh, bw, bh])
    nx1, ny1 = min(max(0.0, x1 + d[0]), w - 1), min(max(0.0, y1 + d[1]), h - 1)
    nx2, ny2 = max(min(w, x2 + d[2]), nx1 + 1), max(min(h, y2 + d[3]), ny1 + 1)
    return nx1, ny1, nx2, ny2


def _random_crop(region: Box, cfg: AugmentConfig, rng: np.random.Generator) -> Box:
    """A crop of ``region`` keeping a random area fraction with a random aspect change."""
    x1, y1, x2, y2 = region
    rw, rh = x2 - x1, y2 - y1
    scale = rng.uniform(*cfg.crop_scale)
    ratio = math.exp(rng.uniform(math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])))
    cw = min(rw, rw * math.sqrt(scale * ratio))
    ch = min(rh, rh * math.sqrt(scale / ratio))
    cw, ch = max(cw, min(rw, 2.0)), max(ch, min(rh, 2.0))  # never an empty crop
    cx = x1 + rng.uniform(0.0, rw - cw)
    cy = y1 + rng.uniform(0.0, rh - ch)
    return cx, cy, cx + cw, cy + ch


def color_jitter(img: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (H, W, 3): brightness, contrast, saturation in a random order.

    Channel-order agnostic (the grey is the channel mean), so BGR and RGB images jitter alike.
    """
    x = img.astype(np.float32)
    ops = [("brightness", cfg.brightness), ("contrast", cfg.contrast), ("saturation", cfg.saturation)]
    for i in rng.permutation(len(ops)):
        name, strength = ops[i]
        if strength <= 0:
            continue
        f = float(rng.uniform(1.0 - strength, 1.0 + strength))
        if name == "brightness":
            x *= f
        elif name == "contrast":
            m = float(x.mean())
            x = (x - m) * f + m
        else:
            grey = x.mean(axis=2, keepdims=True)
            x = (x - grey) * f + grey
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)
