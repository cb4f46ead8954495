"""Draw a Prediction on its image: category top-k, attributes, and an attention map.

The default overlay is the model's class activation map ("cam") when it has one: it points at the
garment, where msfan_lite's sigmoid gates light up the background (benchmarks/map_in_box.py);
otherwise the gates combined. Used by ``edgefashion predict --save-vis DIR`` and the demo.
OpenCV + numpy only.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from edgefashion.errors import BadInput
from edgefashion.runtime.images import to_bgr8
from edgefashion.runtime.prediction import Prediction
from edgefashion.runtime.preprocess import PreprocessConfig

GateArg = Union[None, bool, str, np.ndarray]
DEFAULT_MAP = "cam"   # overlaid by default when the prediction has it


def combine_gates(gates: dict[str, np.ndarray]) -> np.ndarray | None:
    """Mean of the min-max normalised gate maps, at the finest resolution among them."""
    import cv2

    if not gates:
        return None
    h, w = max((g.shape for g in gates.values()), key=lambda s: s[0] * s[1])
    maps = [_normalise(cv2.resize(np.asarray(g, np.float32), (w, h), interpolation=cv2.INTER_LINEAR))
            for g in gates.values()]
    return np.mean(maps, axis=0)


def gate_to_image(gate: np.ndarray, image_shape: Sequence[int], bbox=None,
                  cfg: PreprocessConfig | None = None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Map a gate over the model input back onto the image.

    Returns (map, (x1, y1, x2, y2)): the map resized to the image region the model saw (the box
    crop, undoing center-crop / letterbox), and that region in image pixels.
    """
    import cv2

    cfg = cfg or PreprocessConfig()
    h, w = int(image_shape[0]), int(image_shape[1])
    x1, y1, x2, y2 = _region(h, w, bbox, cfg.bbox_margin)
    rw, rh = x2 - x1, y2 - y1
    g = np.asarray(gate, np.float32)
    gh, gw = g.shape
    if cfg.resize == "center_crop":
        s = min(rw, rh)
        x1, y1 = x1 + (rw - s) // 2, y1 + (rh - s) // 2
        x2, y2, rw, rh = x1 + s, y1 + s, s, s
    elif cfg.resize == "letterbox":
        scale = 1.0 / max(rw, rh)  # content fraction of the square along each axis
        fh, fw = rh * scale, rw * scale
        gy0, gx0 = int(round((1 - fh) / 2 * gh)), int(round((1 - fw) / 2 * gw))
        g = g[gy0:max(gy0 + 1, gh - gy0), gx0:max(gx0 + 1, gw - gx0)]
    return cv2.resize(g, (rw, rh), interpolation=cv2.INTER_LINEAR), (x1, y1, x2, y2)


def draw_prediction(img_bgr: np.ndarray, prediction: Prediction, gate: GateArg = None, *,
                    preprocess: PreprocessConfig | None = None, alpha: float = 0.45,
                    top_k: int = 3, min_size: int = 384) -> np.ndarray:
    """A copy of ``img_bgr`` with the prediction written on it and the gate map blended in.

    gate: None = the prediction's "cam" if it has one, else all its gates combined; a name = that
    map; an (h, w) array = that map; False = no overlay. Images smaller than ``min_size`` are
    enlarged so text is readable.
    """
    import cv2

    if not isinstance(img_bgr, np.ndarray):
        raise BadInput(f"draw_prediction needs a BGR image array, got {type(img_bgr).__name__}")
    img = to_bgr8(img_bgr).copy()
    f = max(1.0, min_size / max(1, min(img.shape[:2])))
    if f > 1.0:
        img = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)),
                         interpolation=cv2.INTER_LINEAR)
    bbox = None if prediction.bbox is None else [v * f for v in prediction.bbox]
    g = _pick_gate(prediction, gate)
    if g is not None:
        _overlay(img, g, bbox, preprocess, alpha)
    if bbox is not None:
        cv2.rectangle(img, (int(bbox[0]), int(bbox[1])), (int(bbox[2]), int(bbox[3])), (0, 255, 0), 2)
    _text_panel(img, _lines(prediction, top_k), error=prediction.error is not None)
    return img


def _pick_gate(prediction: Prediction, gate: GateArg) -> np.ndarray | None:
    if gate is False:
        return None
    if gate is None or gate is True:
        if DEFAULT_MAP not in prediction.gates:
            return combine_gates(prediction.gates)
        gate = DEFAULT_MAP
    if isinstance(gate, str):
        if gate not in prediction.gates:
            raise BadInput(f"gate {gate!r} is not in this prediction; it has {sorted(prediction.gates)}")
        g = np.asarray(prediction.gates[gate], np.float32)
        # the cam is already scaled (by its peak, or more where the peak is small: a dim map stays
        # dim); min-max would inflate a flat one
        return np.clip(g, 0.0, 1.0) if gate == DEFAULT_MAP else _normalise(g)
    g = np.asarray(gate, np.float32)
    if g.ndim == 3 and g.shape[0] == 1:
        g = g[0]
    if g.ndim != 2:
        raise BadInput(f"gate map has shape {g.shape}; expected (h, w)")
    return _normalise(g)


def _overlay(img: np.ndarray, gate: np.ndarray, bbox, cfg, alpha: float) -> None:
    import cv2

    g, (x1, y1, x2, y2) = gate_to_image(gate, img.shape, bbox, cfg)
    heat = cv2.applyColorMap((np.clip(g, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    region = img[y1:y2, x1:x2]
    region[:] = cv2.addWeighted(region, 1.0 - alpha, heat, alpha, 0.0)


def _lines(p: Prediction, top_k: int) -> list[str]:
    if p.error is not None:
        return [f"error: {type(p.error).__name__}", str(p.error)]
    lines = [f"{name}  {prob:.2f}" for name, prob in (p.category.top(top_k) if p.category else [])]
    lines += [f"{group}: {', '.join(names)}" for group, names in p.attributes.items() if names]
    return lines


def _text_panel(img: np.ndarray, lines: list[str], error: bool = False) -> None:
    import cv2

    h, w = img.shape[:2]
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, min(h, w) / 700)
    thick = 1 if scale < 0.8 else 2
    line_h = int(cv2.getTextSize("Ag", font, scale, thick)[0][1] * 1.9) + 2
    fitted = [_fit(t, font, scale, thick, w - 16) for t in lines][: max(1, (h - 8) // line_h)]
    if not fitted:
        return
    width = max(cv2.getTextSize(t, font, scale, thick)[0][0] for t in fitted) + 12
    y2 = min(h, 6 + line_h * len(fitted) + 4)
    panel = img[0:y2, 0:min(w, width)]
    panel[:] = (panel * 0.35).astype(np.uint8)
    color = (80, 80, 255) if error else (255, 255, 255)
    for i, t in enumerate(fitted):
        y = 6 + line_h * (i + 1) - line_h // 4
        cv2.putText(img, t, (6, y), font, scale, color, thick, cv2.LINE_AA)


def _fit(text: str, font, scale: float, thick: int, width: int) -> str:
    import cv2

    while len(text) > 4 and cv2.getTextSize(text, font, scale, thick)[0][0] > width:
        text = text[:-4] + "..."
    return text


def _normalise(g: np.ndarray) -> np.ndarray:
    g = np.asarray(g, np.float32)
    lo, hi = float(g.min()), float(g.max())
    return (g - lo) / (hi - lo) if hi - lo > 1e-6 else np.zeros_like(g)


def _region(h: int, w: int, bbox, margin: float) -> tuple[int, int, int, int]:
    """The pixels the preprocessing keeps, or the whole image when the box is unusable."""
    from edgefashion.errors import BadInput
    from edgefashion.runtime.preprocess import crop_region

    try:
        return crop_region((h, w), bbox, margin)
    except BadInput:
        return 0, 0, w, h
