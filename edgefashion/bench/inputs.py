"""Benchmark inputs: real photos (a folder, list file or glob) or, without any, one synthetic photo.

``mode`` says what the Predictor is handed, and so what the end-to-end time includes:
"bytes" (default) — encoded JPEG/PNG bytes in memory: decode + preprocessing, no disk I/O;
"array" — decoded BGR arrays (a camera frame): preprocessing only;
"path" — file paths: disk read + decode + preprocessing.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgefashion.errors import BadInput

MODES = ("bytes", "array", "path")
SYNTHETIC_SHAPE = (533, 400)  # the common clothing-small photo size (H, W)


def default_image_dir() -> Path | None:
    """clothing-small/validation under EDGEFASHION_DATA (or ../shared/data beside the repo)."""
    root = os.environ.get("EDGEFASHION_DATA")
    candidates = [Path(root)] if root else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "data")
    for base in candidates:
        d = base / "clothing-small" / "validation"
        if d.is_dir():
            return d
    return None


def image_paths(spec: str | Path | None, limit: int = 16) -> list[Path]:
    """Up to ``limit`` image paths from ``spec``, spread over the list (so over categories)."""
    if spec is None:
        return []
    from edgefashion.data.imagelist import read_image_list

    paths = read_image_list(spec)
    if len(paths) <= limit:
        return paths
    step = len(paths) / limit
    return [paths[int(i * step)] for i in range(limit)]


def synthetic_jpeg(shape: tuple[int, int] = SYNTHETIC_SHAPE, seed: int = 0) -> bytes:
    """A smooth random colour image (JPEG-encoded), decoding like a photo of the same size."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (shape[0] // 16 + 1, shape[1] // 16 + 1, 3), dtype=np.uint8)
    img = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 8, img.shape)
    img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise BadInput("OpenCV could not encode the synthetic benchmark image")
    return buf.tobytes()


def load_inputs(paths: list[Path], mode: str = "bytes") -> tuple[list, str]:
    """-> (inputs for the Predictor, a description for the JSON)."""
    if mode not in MODES:
        raise BadInput(f"input mode {mode!r} must be one of {', '.join(MODES)}")
    if paths:
        desc = f"{len(paths)} real images from {_common_dir(paths)} as {mode}"
        blobs = [p.read_bytes() for p in paths]
    else:
        desc = f"1 synthetic {SYNTHETIC_SHAPE[1]}x{SYNTHETIC_SHAPE[0]} JPEG as {mode} (no --images given)"
        blobs = [synthetic_jpeg()]
    if mode == "bytes":
        return blobs, desc
    if mode == "path":
        if not paths:
            raise BadInput("input mode 'path' needs real image files (--images)")
        return [str(p) for p in paths], desc
    from edgefashion.runtime.images import decode_image

    return [decode_image(b) for b in blobs], desc


def _common_dir(paths: list[Path]) -> str:
    try:
        return os.path.commonpath([str(p.parent) for p in paths])
    except ValueError:
        return str(paths[0].parent)
