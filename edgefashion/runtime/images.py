"""Image decoding with checks: every image becomes an 8-bit BGR (H, W, 3) array or a typed error.

Grayscale, 16-bit, RGBA and palette images are converted; corrupt, truncated, empty and oversized
(decompression bomb) images are rejected with ImageDecodeError naming the source.

Array rules (``to_bgr8``), none of which guesses:
- shape (H, W) gray, (H, W, 1) gray, (H, W, 3) BGR or (H, W, 4) BGRA (alpha blended onto white);
- uint8 as it is; uint16 keeps its high byte; bool is 0 / 255;
- float16 / 32 / 64 only with a declared ``float_scale``: 1.0 for values in [0, 1], 255.0 for [0, 255];
  pixel = value * 255 / float_scale. Values outside [0, float_scale] (beyond a rounding slack) and
  NaN / inf are BadInput, never clipped; every other dtype is BadInput.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Union

import numpy as np

from edgefashion.errors import BadInput, ImageDecodeError

ImageSource = Union[str, Path, bytes, bytearray, memoryview, np.ndarray]
MAX_PIXELS = 100_000_000  # ~ a 10k x 10k photo; above it we refuse to decode
FLOAT_SCALES = (1.0, 255.0)
_FLOAT_SLACK = 1e-3  # relative: float arithmetic may overshoot [0, scale] by a rounding error


def describe(src) -> str:
    if isinstance(src, (str, Path)):
        return repr(str(src))
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{len(src)} bytes>"
    if isinstance(src, np.ndarray):
        return f"<array shape={src.shape} dtype={src.dtype}>"
    return f"<{type(src).__name__}>"


def load_image(src: ImageSource, max_pixels: int = MAX_PIXELS,
               float_scale: float | None = None) -> np.ndarray:
    """Decode ``src`` (path, encoded bytes or array) into a contiguous uint8 BGR (H, W, 3) array.

    float_scale: for float arrays only, what 255 maps from (1.0 or 255.0; see the module doc)."""
    if isinstance(src, np.ndarray):
        return to_bgr8(src, describe(src), float_scale)
    if isinstance(src, (str, Path)):
        path = Path(src)
        if not path.is_file():
            raise ImageDecodeError(f"image {str(path)!r} does not exist (or is not a file)")
        data = path.read_bytes()
    elif isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    else:
        raise ImageDecodeError(
            f"cannot read an image from {describe(src)}; pass a path, encoded bytes or a BGR array"
        )
    return decode_image(data, describe(src), max_pixels)


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    import cv2

    if not data:
        raise ImageDecodeError(f"image {name} is empty (0 bytes)")
    size = header_size(data)
    if size is not None:
        w, h = size
        if w == 0 or h == 0:
            raise ImageDecodeError(f"image {name} has a zero dimension ({w}x{h})")
        if w * h > max_pixels:
            raise ImageDecodeError(
                f"image {name} is {w}x{h} = {w * h} pixels, above the limit of {max_pixels}; "
                "resize it first or raise max_pixels if you trust the source"
            )
    _check_complete(data, name)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.size == 0:
        raise ImageDecodeError(
            f"image {name} could not be decoded: it is corrupt or not an image format OpenCV reads"
        )
    if arr.shape[0] * arr.shape[1] > max_pixels:
        raise ImageDecodeError(f"image {name} has {arr.shape[0] * arr.shape[1]} pixels, above {max_pixels}")
    return to_bgr8(arr, name)


def check_float_scale(float_scale: float | None) -> float | None:
    if float_scale is None:
        return None
    if float_scale not in FLOAT_SCALES:
        raise BadInput(f"float_scale {float_scale!r} must be 1.0 (float images in [0, 1]) or 255.0 "
                       "(float images in [0, 255])")
    return float(float_scale)


def _float_to_u8(arr: np.ndarray, name: str, float_scale: float | None) -> np.ndarray:
    scale = check_float_scale(float_scale)
    if scale is None:
        raise BadInput(f"image {name} is a {arr.dtype} array, and its scale is not declared; pass "
                       "float_scale=1.0 (values in [0, 1]) or float_scale=255.0 (values in [0, 255]), "
                       "or give a uint8 BGR array")
    finite = np.isfinite(arr)
    if not finite.all():
        raise BadInput(f"image {name} has {int(arr.size - finite.sum())} non-finite values (NaN or "
                       "inf); fix the array before predicting")
    lo, hi = float(arr.min()), float(arr.max())
    slack = _FLOAT_SLACK * scale
    if lo < -slack or hi > scale + slack:
        raise BadInput(f"image {name} has values in [{lo:.4g}, {hi:.4g}], outside [0, {scale:g}] that "
                       f"float_scale={scale:g} declares; pass the other float_scale or rescale it")
    return np.clip(np.rint(arr.astype(np.float64) * (255.0 / scale)), 0, 255).astype(np.uint8)


def to_bgr8(arr: np.ndarray, name: str = "<array>", float_scale: float | None = None) -> np.ndarray:
    """Convert gray / BGRA / 16-bit / bool / float arrays to uint8 BGR (H, W, 3): the module doc's rules."""
    import cv2

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageDecodeError(
            f"image {name} has shape {arr.shape}; expected (H, W), (H, W, 3) BGR or (H, W, 4) BGRA"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageDecodeError(f"image {name} has a zero dimension (shape {arr.shape})")
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype in (np.float16, np.float32, np.float64):
        arr = _float_to_u8(arr, name, float_scale)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        raise ImageDecodeError(f"image {name} has dtype {arr.dtype}; use uint8 (BGR), uint16, bool or "
                               "float with float_scale")
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    elif arr.shape[2] == 4:
        arr = _flatten_alpha(arr)
    return np.ascontiguousarray(arr)


def _flatten_alpha(bgra: np.ndarray) -> np.ndarray:
    """Composite over white: transparent product shots have white backgrounds."""
    alpha = bgra[:, :, 3:4].astype(np.float32) / 255.0
    out = bgra[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return out.astype(np.uint8)


def _check_complete(data: bytes, name: str) -> None:
    """Truncated JPEG / PNG files decode to partly grey images without error; refuse them."""
    if data[:2] == b"\xff\xd8":
        if b"\xff\xd9" not in data[-64:].rstrip(b"\x00"):
            raise ImageDecodeError(f"JPEG image {name} is truncated (no end-of-image marker)")
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if b"IEND" not in data[-16:]:
            raise ImageDecodeError(f"PNG image {name} is truncated (no IEND chunk)")


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG / JPEG / GIF / BMP header without decoding, else None."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    return None
