"""The shared preprocessing checked against values computed by hand, not against itself.

Training (GarmentDataset), export and every backend (the Predictor) call the one ``preprocess``, so
a wrong constant there is wrong everywhere at once and parity tests cannot see it. Here a known
pixel goes in and ``(x / 255 - mean) / std`` in RGB order, written out in the test, must come out;
crops, margins, center crops and letterboxes are checked pixel for pixel on images whose size makes
the resize an identity (so the expected tensor is a plain slice of the input).
"""
from __future__ import annotations

import numpy as np
import pytest
from runtime_helpers import encode

from edgefashion.errors import BadInput
from edgefashion.runtime.preprocess import (PreprocessConfig, crop_region, image_to_input,
                                            input_geometry, input_to_image, preprocess,
                                            preprocess_batch)

# ImageNet statistics, RGB order, written out here on purpose (not imported from the module)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BGR = (10, 100, 200)  # one pixel: blue 10, green 100, red 200


def by_hand(b: int, g: int, r: int) -> np.ndarray:
    """(3,) model input for one BGR pixel: RGB order, (x / 255 - mean) / std."""
    return np.array([(r / 255 - MEAN[0]) / STD[0],
                     (g / 255 - MEAN[1]) / STD[1],
                     (b / 255 - MEAN[2]) / STD[2]], np.float64)


def uniform(h: int, w: int, bgr=BGR) -> np.ndarray:
    return np.broadcast_to(np.array(bgr, np.uint8), (h, w, 3)).copy()


def normalise_rgb(img_bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) BGR uint8 -> (3, H, W) float64 by the formula, element by element."""
    rgb = img_bgr[:, :, ::-1].astype(np.float64) / 255.0
    return ((rgb - np.array(MEAN)) / np.array(STD)).transpose(2, 0, 1)


def test_defaults_are_imagenet_rgb():
    cfg = PreprocessConfig()
    assert cfg.mean == MEAN and cfg.std == STD and cfg.color == "rgb"
    assert cfg.input_size == 224 and cfg.resize == "stretch" and cfg.bbox_margin == 0.0


def test_a_known_pixel_becomes_the_hand_computed_value():
    out = preprocess(uniform(30, 50), PreprocessConfig(input_size=16))
    assert out.shape == (3, 16, 16) and out.dtype == np.float32
    want = by_hand(*BGR)
    # about 1.31, -0.29, -1.63: red first (the image is BGR), each channel with its own mean / std
    np.testing.assert_allclose(want, [1.3070, -0.2850, -1.6302], atol=1e-4)
    for c in range(3):
        np.testing.assert_allclose(out[c], want[c], rtol=1e-6, atol=1e-6)


def test_extreme_pixels_black_and_white():
    cfg = PreprocessConfig(input_size=8)
    black, white = preprocess(uniform(8, 8, (0, 0, 0)), cfg), preprocess(uniform(8, 8, (255,) * 3), cfg)
    np.testing.assert_allclose(black[:, 0, 0], [-m / s for m, s in zip(MEAN, STD)], rtol=1e-6)
    np.testing.assert_allclose(white[:, 0, 0], [(1 - m) / s for m, s in zip(MEAN, STD)], rtol=1e-6)


def test_bgr_models_get_bgr_order_with_matching_statistics():
    """color="bgr": channel 0 is blue, normalised with the blue statistics (mean / std stay RGB)."""
    out = preprocess(uniform(8, 8), PreprocessConfig(input_size=8, color="bgr"))
    want = by_hand(*BGR)[::-1]  # B, G, R
    for c in range(3):
        np.testing.assert_allclose(out[c], want[c], rtol=1e-6, atol=1e-6)


def test_custom_mean_and_std_are_used_per_channel():
    cfg = PreprocessConfig(input_size=8, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    out = preprocess(uniform(8, 8, (51, 102, 204)), cfg)  # RGB (0.8, 0.4, 0.2)
    np.testing.assert_allclose(out[:, 3, 3], [(0.8 - 0.5) / 0.5, (0.4 - 0.25) / 0.25, 0.2], rtol=1e-5)


def test_random_image_matches_the_formula_pixel_for_pixel():
    img = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    out = preprocess(img, PreprocessConfig(input_size=24))  # same size: no resampling
    np.testing.assert_allclose(out, normalise_rgb(img), rtol=1e-5, atol=1e-5)
    batch = preprocess_batch([img, img[::-1].copy()], PreprocessConfig(input_size=24))
    np.testing.assert_allclose(batch[1], normalise_rgb(img[::-1]), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- crop geometry
def test_bbox_crop_keeps_exactly_the_box():
    img = np.random.default_rng(1).integers(0, 256, (50, 80, 3), dtype=np.uint8)
    out = preprocess(img, PreprocessConfig(input_size=32), bbox=(10, 5, 42, 37))
    np.testing.assert_allclose(out, normalise_rgb(img[5:37, 10:42]), rtol=1e-5, atol=1e-5)
    assert crop_region(img.shape, (10, 5, 42, 37)) == (10, 5, 42, 37)


def test_bbox_margin_and_clamping():
    img = np.random.default_rng(2).integers(0, 256, (50, 80, 3), dtype=np.uint8)
    # 16 x 16 box, margin 0.25: 4 px more on each side -> (16, 6, 40, 30), 24 x 24
    assert crop_region(img.shape, (20, 10, 36, 26), 0.25) == (16, 6, 40, 30)
    out = preprocess(img, PreprocessConfig(input_size=24, bbox_margin=0.25), bbox=(20, 10, 36, 26))
    np.testing.assert_allclose(out, normalise_rgb(img[6:30, 16:40]), rtol=1e-5, atol=1e-5)
    # the margin is a fraction of each side's own length: 16 x 20 -> 4 and 5 px
    assert crop_region(img.shape, (20, 10, 36, 30), 0.25) == (16, 5, 40, 35)
    # a box over the edge is clamped to the image; fractional coordinates round
    assert crop_region(img.shape, (-5, -3, 90.4, 60)) == (0, 0, 80, 50)
    assert crop_region(img.shape, (2.6, 3.4, 10.5, 12.49)) == (3, 3, 10, 12)
    assert crop_region(img.shape, None) == (0, 0, 80, 50)
    with pytest.raises(BadInput, match="empty"):
        crop_region(img.shape, (90, 10, 95, 20))
    for zero_area in ((10, 5, 10, 20), (10, 5, 20, 5)):  # no width, no height
        with pytest.raises(BadInput, match="empty inside a 80x50 image"):
            crop_region(img.shape, zero_area)
    assert crop_region(img.shape, (10, 5, 11, 6)) == (10, 5, 11, 6)  # one pixel is enough
    with pytest.raises(BadInput, match=r"\(x1, y1, x2, y2\)"):
        crop_region(img.shape, (1, 2, 3))


def test_center_crop_takes_the_middle_square():
    img = np.random.default_rng(3).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    out = preprocess(img, PreprocessConfig(input_size=40, resize="center_crop"))
    np.testing.assert_allclose(out, normalise_rgb(img[:, 10:50]), rtol=1e-5, atol=1e-5)
    tall = img.transpose(1, 0, 2).copy()  # 60 x 40: rows 10..49
    out = preprocess(tall, PreprocessConfig(input_size=40, resize="center_crop"))
    np.testing.assert_allclose(out, normalise_rgb(tall[10:50]), rtol=1e-5, atol=1e-5)


def test_letterbox_pads_with_grey_and_centres_the_image():
    img = np.random.default_rng(4).integers(0, 256, (20, 40, 3), dtype=np.uint8)
    out = preprocess(img, PreprocessConfig(input_size=40, resize="letterbox"))
    grey = by_hand(114, 114, 114)
    for c in range(3):
        np.testing.assert_allclose(out[c, :10], grey[c], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out[c, 30:], grey[c], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[:, 10:30], normalise_rgb(img), rtol=1e-5, atol=1e-5)


def test_stretch_of_a_two_colour_image_keeps_the_halves():
    img = uniform(20, 40)
    img[:, 20:] = (0, 0, 255)  # right half pure red
    out = preprocess(img, PreprocessConfig(input_size=10))  # shrink 4x / 2x (area): halves stay
    np.testing.assert_allclose(out[:, :, :5], np.broadcast_to(by_hand(*BGR)[:, None, None], (3, 10, 5)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[:, :, 5:], np.broadcast_to(by_hand(0, 0, 255)[:, None, None],
                                                              (3, 10, 5)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("resize, shape, bbox, geometry", [
    ("stretch", (50, 80), None, (80, 50, 0, 0)),
    ("stretch", (50, 80), (10, 5, 42, 37), (32, 32, 10, 5)),
    ("center_crop", (40, 60), None, (40, 40, 10, 0)),
    ("center_crop", (40, 60), (10, 0, 40, 40), (30, 30, 10, 5)),
    ("letterbox", (20, 40), None, (40, 40, 0, -10)),   # 40 x 40 input, image rows 10..29
    ("letterbox", (40, 20), None, (40, 40, -10, 0)),
    ("letterbox", (20, 80), None, (80, 80, 0, -30)),   # scale 1/2: 40 x 10 in the input
    ("letterbox", (80, 20), None, (80, 80, -30, 0)),
    ("letterbox", (21, 40), None, (40, 40, 0, -9)),    # odd padding: 9 rows above, 10 below
    ("letterbox", (40, 21), None, (40, 40, -9, 0)),
    ("letterbox", (1, 40), None, (40, 40, 0, -19)),    # a one-pixel-high image stays one row
    ("letterbox", (40, 1), None, (40, 40, -19, 0)),
    ("center_crop", (41, 60), None, (41, 41, 9, 0)),   # odd margins round down
    ("center_crop", (60, 41), None, (41, 41, 0, 9)),
])
def test_input_geometry_by_hand(resize, shape, bbox, geometry):
    cfg = PreprocessConfig(input_size=40, resize=resize)
    assert input_geometry(shape, cfg, bbox) == pytest.approx(geometry)
    sx, sy, ox, oy = geometry
    pts = np.array([[ox, oy, 0.7], [ox + sx, oy + sy, 0.2], [ox + sx / 2, oy + sy / 4, 1.0]], np.float32)
    uv = image_to_input(pts, shape, cfg, bbox)
    np.testing.assert_allclose(uv, [[0, 0, 0.7], [1, 1, 0.2], [0.5, 0.25, 1.0]], atol=1e-6)
    np.testing.assert_allclose(input_to_image(uv, shape, cfg, bbox), pts, atol=1e-4)


def test_geometry_follows_the_margin():
    cfg = PreprocessConfig(input_size=24, bbox_margin=0.25)
    assert input_geometry((50, 80), cfg, (20, 10, 36, 26)) == pytest.approx((24, 24, 16, 6))


# ---------------------------------------------------------------------- every door, same values
def test_predictor_feeds_the_hand_computed_values(onnx_predictor):
    """The runtime path (bytes -> decode -> preprocess) gives the same hand-computed tensor."""
    png = encode(uniform(48, 30))
    x = onnx_predictor.preprocess(png)
    assert x.shape == (3, 64, 64)
    want = by_hand(*BGR)
    for c in range(3):
        np.testing.assert_allclose(x[c], want[c], rtol=1e-5, atol=1e-5)
    img = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(onnx_predictor.preprocess(encode(img)), normalise_rgb(img),
                               rtol=1e-5, atol=1e-5)


def test_training_dataset_feeds_the_hand_computed_values(tmp_path):
    pytest.importorskip("torch")
    import cv2

    from edgefashion.data import GarmentDataset, Sample

    img = np.random.default_rng(6).integers(0, 256, (40, 64, 3), dtype=np.uint8)
    img[:, :, 0] = 10  # a fixed blue channel: a wrong channel order is far off
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), img)
    ds = GarmentDataset([Sample(path, 0, bbox=(4, 2, 36, 34))], PreprocessConfig(input_size=32))
    got = ds[0]["image"]
    got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
    np.testing.assert_allclose(got, normalise_rgb(img[2:34, 4:36]), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- the config and the batch
def test_config_normalises_and_round_trips():
    cfg = PreprocessConfig(input_size=32, mean=[0, 0.5, 1], std=np.array([1, 2, 3]), resize="letterbox",
                           bbox_margin=0.1)
    assert cfg.mean == (0.0, 0.5, 1.0) and cfg.std == (1.0, 2.0, 3.0)
    assert all(type(v) is float for v in cfg.mean + cfg.std)
    hash(cfg)  # frozen and made of tuples: usable as a cache key
    d = cfg.to_dict()
    assert d == {"input_size": 32, "mean": (0.0, 0.5, 1.0), "std": (1.0, 2.0, 3.0), "color": "rgb",
                 "resize": "letterbox", "bbox_margin": 0.1}
    with pytest.raises(BadInput, match="unknown preprocessing options 'unknown_key'"):
        PreprocessConfig.from_dict({**d, "unknown_key": 1})  # a key it cannot apply is not dropped
    assert PreprocessConfig.from_dict({}) == PreprocessConfig()


@pytest.mark.parametrize("kwargs, message", [
    ({"input_size": 7}, "input_size 7 is too small; use at least 8 pixels"),
    ({"color": "hsv"}, "color 'hsv' must be 'rgb' or 'bgr'"),
    ({"resize": "crop"}, "resize 'crop' must be one of stretch, letterbox, center_crop"),
    ({"mean": (0.5, 0.5)}, "mean (0.5, 0.5) / std (0.229, 0.224, 0.225) need 3 values each, std > 0"),
    ({"std": (0.2, 0.0, 0.2)}, "std (0.2, 0.0, 0.2) need 3 values each, std > 0"),
    ({"std": (0.2, 0.2)}, "need 3 values each"),
])
def test_config_rejects_bad_values_naming_them(kwargs, message):
    with pytest.raises(BadInput) as e:
        PreprocessConfig(**kwargs)
    assert message in str(e.value)
    PreprocessConfig(input_size=8)  # the smallest allowed


def test_batch_is_float32_with_one_box_per_image():
    img = np.random.default_rng(7).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    cfg = PreprocessConfig(input_size=16)
    batch = preprocess_batch([img, img], cfg, bboxes=[None, (8, 4, 24, 20)])
    assert batch.shape == (2, 3, 16, 16) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0], preprocess(img, cfg), rtol=1e-6)
    np.testing.assert_allclose(batch[1], normalise_rgb(img[4:20, 8:24]), rtol=1e-5, atol=1e-5)
    assert preprocess_batch([], cfg).shape == (0, 3, 16, 16)


def test_point_mappings_keep_float32_and_extra_columns():
    cfg = PreprocessConfig(input_size=40)
    pts = np.array([[10, 20, 0.5], [30, 5, 1.0]], np.float64)
    uv = image_to_input(pts, (50, 80), cfg)
    back = input_to_image(uv, (50, 80), cfg)
    assert uv.dtype == back.dtype == np.float32
    np.testing.assert_allclose(uv, [[10 / 80, 20 / 50, 0.5], [30 / 80, 5 / 50, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(back, pts, rtol=1e-5)
    assert pts[0, 0] == 10  # the caller's array is not changed in place


def test_shrinking_averages_pixels_and_enlarging_interpolates():
    """INTER_AREA when shrinking (every pixel counts: no aliasing), INTER_LINEAR when enlarging."""
    import cv2

    img = np.random.default_rng(8).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    small = preprocess(img, PreprocessConfig(input_size=16))
    area = cv2.resize(img, (16, 16), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(small, normalise_rgb(area), rtol=1e-5, atol=1e-5)
    linear = cv2.resize(img, (16, 16), interpolation=cv2.INTER_LINEAR)
    assert np.abs(normalise_rgb(linear) - small).max() > 0.1  # the choice matters
    tiny = img[:8, :8]
    big = preprocess(tiny, PreprocessConfig(input_size=20))
    np.testing.assert_allclose(big, normalise_rgb(cv2.resize(tiny, (20, 20), interpolation=cv2.INTER_LINEAR)),
                               rtol=1e-5, atol=1e-5)


def test_point_mappings_never_write_into_the_callers_array():
    cfg = PreprocessConfig(input_size=40)
    pts = np.array([[10, 20], [30, 5]], np.float32)  # already float32: a no-copy would alias it
    before = pts.copy()
    image_to_input(pts, (50, 80), cfg)
    input_to_image(pts, (50, 80), cfg)
    np.testing.assert_array_equal(pts, before)


@pytest.mark.parametrize("mode", ["center_crop", "letterbox"])
def test_every_resize_mode_shrinks_by_area(mode):
    import cv2

    from edgefashion.runtime.preprocess import resize

    img = np.random.default_rng(9).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = resize(img, 16, mode)  # square: center_crop and letterbox are plain shrinks here
    assert out.dtype == np.uint8 and out.shape == (16, 16, 3)
    np.testing.assert_array_equal(out, cv2.resize(img, (16, 16), interpolation=cv2.INTER_AREA))


def test_letterbox_of_a_tall_and_a_one_row_image():
    from edgefashion.runtime.preprocess import resize

    tall = np.random.default_rng(10).integers(0, 256, (40, 20, 3), dtype=np.uint8)
    out = resize(tall, 40, "letterbox")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 10:30], tall)           # centred: 10 grey columns each side
    assert (out[:, :10] == 114).all() and (out[:, 30:] == 114).all()
    row = tall[:1]                                              # 1 x 20: one row, 20 wide
    out = resize(row, 20, "letterbox")
    np.testing.assert_array_equal(out[9:10], row)
    assert (np.delete(out, 9, axis=0) == 114).all()
    col = tall[:, :1][:20]                                      # 20 x 1: one column
    out = resize(col, 20, "letterbox")
    np.testing.assert_array_equal(out[:, 9:10], col)
    assert (np.delete(out, 9, axis=1) == 114).all()


def test_model_outputs_map_back_as_float32_whatever_their_dtype():
    cfg = PreprocessConfig(input_size=40)
    uv = np.array([[0.5, 0.25, 0.9]], np.float64)  # e.g. a PyTorch / fp64 landmark head
    px = input_to_image(uv, (50, 80), cfg)
    assert px.dtype == np.float32
    np.testing.assert_allclose(px, [[40, 12.5, 0.9]], rtol=1e-6)


def test_crop_box_defaults_to_no_margin():
    from edgefashion.runtime.preprocess import crop_box

    img = np.random.default_rng(11).integers(0, 256, (50, 80, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop_box(img, (10, 5, 42, 37)), img[5:37, 10:42])
    assert crop_box(img, None) is img
