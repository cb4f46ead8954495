"""The Predictor's array rules (runtime/images.py): nothing is guessed. Float arrays need a declared
scale, non-finite and out-of-range values are BadInput, and a declared float image gives exactly the
answer of the uint8 image it came from."""
from __future__ import annotations

import numpy as np
import pytest

from edgefashion.errors import BadInput, ImageDecodeError
from edgefashion.runtime.images import load_image, to_bgr8
from edgefashion.runtime.predictor import Predictor

pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def photo(real_photos) -> np.ndarray:
    return load_image(real_photos[0])


def test_nan_and_inf_are_refused(onnx_path):
    p = Predictor(onnx_path, float_scale=1.0)
    with pytest.raises(BadInput, match=r"12288 non-finite values"):       # the case
        p(np.full((64, 64, 3), np.nan, np.float32))
    img = np.full((8, 8, 3), 0.5, np.float32)
    img[0, 0, 0] = np.inf
    with pytest.raises(BadInput, match=r"1 non-finite values"):
        p(img)


def test_float_without_a_declared_scale_is_refused(onnx_predictor):
    with pytest.raises(BadInput, match=r"float32 array, and its scale is not declared.*float_scale=1\.0"):
        onnx_predictor(np.full((64, 64, 3), 0.5, np.float32))
    with pytest.raises(BadInput, match="scale is not declared"):
        onnx_predictor(np.full((64, 64, 3), 100.0, np.float64))   # [0, 255]-looking: still no guess


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_declared_float_scale_matches_the_uint8_answer(onnx_path, photo, scale):
    p = Predictor(onnx_path, float_scale=scale)
    ref = p(photo)
    got = p(photo.astype(np.float32) * (scale / 255.0))
    assert got.category.top(3) == ref.category.top(3)
    np.testing.assert_allclose(got.category.probs, ref.category.probs, atol=1e-6)


def test_out_of_range_for_the_declared_scale(onnx_path):
    p = Predictor(onnx_path, float_scale=1.0)
    with pytest.raises(BadInput, match=r"values in \[0, 200\], outside \[0, 1\]"):
        p(np.linspace(0, 200, 64 * 64 * 3, dtype=np.float32).reshape(64, 64, 3))
    with pytest.raises(BadInput, match=r"outside \[0, 1\]"):
        p(np.full((8, 8, 3), -0.5, np.float32))


def test_bad_float_scale_and_dtypes():
    with pytest.raises(BadInput, match="float_scale 2.0 must be 1.0"):
        to_bgr8(np.zeros((4, 4, 3), np.float32), float_scale=2.0)
    with pytest.raises(ImageDecodeError, match="dtype int32"):
        to_bgr8(np.zeros((4, 4, 3), np.int32))


def test_the_documented_conversions():
    f = np.array([[0.0, 0.5, 1.0]], np.float32)
    assert to_bgr8(f, float_scale=1.0)[0, :, 0].tolist() == [0, 128, 255]   # rounded, gray -> 3 ch
    assert to_bgr8(np.array([[0.0, 255.0]], np.float16), float_scale=255.0)[0, :, 1].tolist() == [0, 255]
    assert to_bgr8(np.array([[True, False]]))[0, :, 2].tolist() == [255, 0]
    assert to_bgr8(np.array([[0x1234, 0xFFFF]], np.uint16))[0, :, 0].tolist() == [0x12, 0xFF]
    bgra = np.zeros((1, 1, 4), np.uint8)                  # fully transparent black -> white
    assert to_bgr8(bgra)[0, 0].tolist() == [255, 255, 255]
