"""Bad input through the Predictor: typed errors naming the input, conversions that answer."""
from __future__ import annotations

import numpy as np
import pytest
from runtime_helpers import encode, png_header

from edgefashion.errors import BadInput, ImageDecodeError, ModelFileError
from edgefashion.runtime.images import load_image
from edgefashion.runtime.predictor import Predictor

pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def photo(real_photos) -> np.ndarray:
    return load_image(real_photos[0])


@pytest.fixture(scope="module")
def truncated_jpeg(photo) -> bytes:
    data = encode(photo, ".jpg")
    return data[: len(data) // 2]


def test_missing_file(onnx_predictor, tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(ImageDecodeError, match="nope.jpg.*does not exist"):
        onnx_predictor(missing)


@pytest.mark.parametrize("data,match", [
    (b"\x00\x01garbage" * 10, "could not be decoded"),
    (b"", "empty"),
    (png_header(0, 10), "zero dimension"),
    (png_header(20000, 20000), "400000000 pixels, above the limit"),
])
def test_corrupt_empty_zero_width_and_bomb_bytes(onnx_predictor, data, match):
    with pytest.raises(ImageDecodeError, match=match):
        onnx_predictor(data)


def test_truncated_jpeg_file(onnx_predictor, truncated_jpeg, tmp_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes(truncated_jpeg)
    with pytest.raises(ImageDecodeError, match="cut.jpg.*truncated"):
        onnx_predictor(path)


def test_zero_width_array_and_bad_types(onnx_predictor):
    with pytest.raises(ImageDecodeError, match="zero dimension"):
        onnx_predictor(np.zeros((10, 0, 3), np.uint8))
    with pytest.raises(ImageDecodeError, match="cannot read an image from <int>"):
        onnx_predictor(5)
    with pytest.raises(ImageDecodeError, match="dtype int32"):
        onnx_predictor(np.zeros((8, 8, 3), np.int32))


def test_pixel_limit_is_configurable(onnx_path, photo):
    with pytest.raises(ImageDecodeError, match="above the limit of 1000"):
        Predictor(onnx_path, max_pixels=1000)(encode(photo))


def test_16bit_gray_rgba_palette_are_converted(onnx_predictor, photo):
    import cv2

    reference = onnx_predictor.preprocess(photo)
    sixteen = encode(photo.astype(np.uint16) << 8)
    np.testing.assert_array_equal(onnx_predictor.preprocess(sixteen), reference)
    rgba = encode(np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]))
    np.testing.assert_array_equal(onnx_predictor.preprocess(rgba), reference)
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(onnx_predictor.preprocess(encode(gray)),
                                  onnx_predictor.preprocess(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)))
    for data in (sixteen, rgba, encode(gray)):
        r = onnx_predictor(data)
        assert r.ok and r.category is not None


def test_palette_png_is_converted(onnx_predictor, photo):
    PIL = pytest.importorskip("PIL.Image")
    import io

    pal = PIL.fromarray(photo[:, :, ::-1].copy()).convert("P", palette=PIL.Palette.ADAPTIVE)
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    assert PIL.open(io.BytesIO(buf.getvalue())).mode == "P"
    expected_bgr = np.asarray(pal.convert("RGB"))[:, :, ::-1]
    np.testing.assert_array_equal(load_image(buf.getvalue()), expected_bgr)
    r = onnx_predictor(buf.getvalue())
    assert r.ok and r.category is not None


def test_batch_with_bad_items_answers_the_others(onnx_predictor, real_photos, truncated_jpeg,
                                                 tmp_path, photo):
    good = [str(p) for p in real_photos[:5]]
    items = [good[0], tmp_path / "missing.png", good[1], truncated_jpeg, good[2], b"junk",
             good[3], photo, good[4]]
    boxes = [None] * len(items)
    boxes[7] = (5, 5, 5, 50)  # an empty box: that item fails, with BadInput
    results = onnx_predictor(items, bboxes=boxes)
    assert len(results) == len(items) and onnx_predictor.last_timings["images"] == len(items)
    bad = {1: ("ImageDecodeError", "missing.png"), 3: ("ImageDecodeError", "truncated"),
           5: ("ImageDecodeError", "could not be decoded"), 7: ("BadInput", "bbox")}
    for i, r in enumerate(results):
        if i in bad:
            kind, text = bad[i]
            assert type(r.error).__name__ == kind and text in str(r.error)
            assert r.category is None and r.attributes == {} and not r.ok
            assert r.to_dict()["error"]["type"] == kind
        else:
            assert r.ok, r.error
            alone = onnx_predictor(items[i])
            assert r.source == alone.source
            np.testing.assert_allclose(r.category.probs, alone.category.probs, atol=1e-5)
            assert r.attributes == alone.attributes
    assert isinstance(results[7].error, BadInput)


@pytest.mark.parametrize("name,content", [("model.onnx", b"PK\x03\x04 zip, not onnx"),
                                          ("model.pt", b"definitely not a checkpoint"),
                                          ("model.bin", b"\x08\x07")])
def test_model_file_that_is_not_a_model(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=name.replace(".", r"\.")):
        Predictor(path)
