"""draw_prediction: text and gate overlay; gate maps mapped back through crop / resize policies."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgefashion.errors import BadInput, ImageDecodeError
from edgefashion.runtime.prediction import CategoryResult, Prediction
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.runtime.visualize import combine_gates, draw_prediction, gate_to_image


def make_prediction(bbox=None) -> Prediction:
    gate = np.zeros((8, 8), np.float32)
    gate[:4] = 1.0  # the top half of the model input is "attended"
    return Prediction(
        "x.jpg", CategoryResult("tee", 0.8, 0, [("tee", 0.8), ("top", 0.1)], ["tee", "top"],
                                np.array([0.8, 0.2], np.float32)),
        {"texture": ["striped"], "neck": []}, scores={"striped": 0.9}, gates={"gate1": gate}, bbox=bbox,
    )


def test_gate_to_image_undoes_resize_policies():
    content = np.zeros((8, 8), np.float32)
    content[2:6] = 1.0  # letterbox of a 2:1 image: the middle half of the rows is the image
    g, region = gate_to_image(content, (100, 200), cfg=PreprocessConfig(resize="letterbox"))
    assert region == (0, 0, 200, 100) and g.shape == (100, 200) and g.min() == 1.0
    g, region = gate_to_image(np.ones((8, 8)), (100, 200), cfg=PreprocessConfig(resize="center_crop"))
    assert region == (50, 0, 150, 100) and g.shape == (100, 100)
    g, region = gate_to_image(np.ones((8, 8)), (100, 200), bbox=(10, 20, 60, 90))
    assert region == (10, 20, 60, 90) and g.shape == (70, 50)


def test_draw_prediction_text_and_overlay():
    img = np.full((120, 160, 3), 200, np.uint8)
    out = draw_prediction(img, make_prediction())
    assert out.dtype == np.uint8 and out.shape == (384, 512, 3)  # enlarged so text is readable
    base = cv2.resize(img, (512, 384), interpolation=cv2.INTER_LINEAR)
    plain = draw_prediction(img, make_prediction(), gate=False)
    # bottom half: the gate is 0 there, so only the overlay colour of 0 differs from the plain image
    assert not np.array_equal(out[200:], plain[200:]) and np.array_equal(plain[300:], base[300:])
    # the text panel darkens the top-left corner
    assert plain[:20, :20].mean() < base[:20, :20].mean()
    assert np.array_equal(img, np.full((120, 160, 3), 200, np.uint8))  # input untouched
    big = draw_prediction(np.full((600, 800, 3), 200, np.uint8), make_prediction((100, 100, 400, 500)))
    assert big.shape == (600, 800, 3)
    assert tuple(big[300, 100]) == (0, 255, 0)  # the box outline


def test_draw_error_and_gate_choices():
    err = Prediction("bad.jpg", error=ImageDecodeError("image 'bad.jpg' is truncated"))
    out = draw_prediction(np.zeros((400, 400, 3), np.uint8), err)
    assert out[:40, :300].max() > 0  # the error text is drawn
    p = make_prediction()
    np.testing.assert_array_equal(draw_prediction(np.zeros((400, 400, 3), np.uint8), p, gate="gate1"),
                                  draw_prediction(np.zeros((400, 400, 3), np.uint8), p))
    with pytest.raises(BadInput, match="gate 'gate9'.*gate1"):
        draw_prediction(np.zeros((64, 64, 3), np.uint8), p, gate="gate9")
    with pytest.raises(BadInput, match="BGR image array"):
        draw_prediction("x.jpg", p)
    both = combine_gates({"a": np.zeros((4, 4)), "b": np.arange(64, dtype=np.float32).reshape(8, 8)})
    assert both.shape == (8, 8) and 0.0 <= both.min() and both.max() <= 0.5 + 1e-6


def test_the_default_overlay_is_the_cam_when_there_is_one():
    p = make_prediction()
    cam = np.zeros((2, 2), np.float32)
    cam[1] = 0.5                 # bottom half, max 0.5: drawn as is, not stretched to 1
    p.gates["cam"] = cam
    img = np.zeros((400, 400, 3), np.uint8)
    default = draw_prediction(img, p)
    np.testing.assert_array_equal(default, draw_prediction(img, p, gate="cam"))
    assert not np.array_equal(default, draw_prediction(img, p, gate="gate1"))
    assert not np.array_equal(default, draw_prediction(img, p, gate=cam))  # an array: min-max
    del p.gates["cam"]           # no cam: the gates combined, as before
    np.testing.assert_array_equal(draw_prediction(img, p), draw_prediction(img, p, gate="gate1"))


@pytest.mark.needs_data
def test_draw_real_prediction(onnx_predictor, real_photos):
    from edgefashion.runtime.images import load_image

    img = load_image(real_photos[0])
    r = onnx_predictor(img)
    out = draw_prediction(img, r, preprocess=onnx_predictor.preprocess_config)
    assert out.shape == img.shape and not np.array_equal(out, img)
