"""map_in_box / box_to_input: the mass-in-box measure and the box mapping through the preprocessing."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgefashion.errors import BadInput, ShapeError
from edgefashion.runtime.map_measure import MapInBox, box_to_input, cell_overlap, map_in_box, summarise
from edgefashion.runtime.preprocess import RESIZE_MODES, PreprocessConfig, resize


def test_mass_all_inside_is_one_and_uniform_is_the_area_share():
    heat = np.zeros((8, 8), np.float32)
    heat[2:6, 1:4] = 3.0
    m = map_in_box(heat, (1 / 8, 2 / 8, 4 / 8, 6 / 8))
    assert m.mass_share == pytest.approx(1.0) and m.area_share == pytest.approx(12 / 64)
    assert m.points_at
    u = map_in_box(np.ones((5, 5)), (0.13, 0.21, 0.77, 0.94))   # edges cut cells: fractional overlap
    assert u.mass_share == pytest.approx(u.area_share) == pytest.approx(0.64 * 0.73)
    assert not u.points_at                                        # a uniform map points nowhere
    outside = map_in_box(np.pad(np.ones((1, 1)), ((0, 3), (0, 3))), (0.5, 0.5, 1.0, 1.0))
    assert outside.mass_share == 0.0 and not outside.points_at


def test_half_cells_and_shapes():
    np.testing.assert_allclose(cell_overlap(0.1, 0.6, 4), [0.6, 1.0, 0.4, 0.0])
    heat = np.arange(1, 5, dtype=np.float64).reshape(1, 2, 2)     # (1, h, w) accepted
    m = map_in_box(heat, (0.0, 0.0, 0.5, 1.0))                    # left column: 1 + 3 of 10
    assert m.mass_share == pytest.approx(0.4) and m.area_share == pytest.approx(0.5)
    assert math.isnan(map_in_box(np.zeros((3, 3)), (0, 0, 1, 1)).mass_share)
    with pytest.raises(ShapeError, match=r"\(h, w\).*\(2, 3, 3\)"):
        map_in_box(np.ones((2, 3, 3)), (0, 0, 1, 1))
    with pytest.raises(BadInput, match=">= 0"):
        map_in_box(-np.ones((3, 3)), (0, 0, 1, 1))
    with pytest.raises(BadInput, match="box_to_input"):
        map_in_box(np.ones((3, 3)), (0, 0, 120, 80))


def test_summarise_leaves_out_all_zero_maps():
    s = summarise([MapInBox(0.8, 0.5), MapInBox(0.2, 0.3), MapInBox(math.nan, 0.4)])
    assert s == {"n": 2, "empty": 1, "mass_share": pytest.approx(0.5), "area_share": pytest.approx(0.4),
                 "points_at": 0.5}
    assert summarise([MapInBox(math.nan, 0.4)])["n"] == 0


@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_box_to_input_follows_the_preprocessing_on_a_non_square_image(mode):
    """A white box painted on a 90 x 200 image lands where box_to_input says, after ``resize``."""
    size, box = 64, (70, 20, 125, 75)   # inside the centre square too (x 55..145)
    img = np.zeros((90, 200, 3), np.uint8)
    img[box[1]:box[3], box[0]:box[2]] = 255
    cfg = PreprocessConfig(input_size=size, resize=mode)
    u1, v1, u2, v2 = box_to_input(box, img.shape, cfg)
    white = resize(img, size, mode)[..., 0] > 127
    ys, xs = np.nonzero(white)
    # the painted box's edges in input pixels, within one pixel of resampling blur
    assert xs.min() == pytest.approx(u1 * size, abs=1) and xs.max() + 1 == pytest.approx(u2 * size, abs=1)
    assert ys.min() == pytest.approx(v1 * size, abs=1) and ys.max() + 1 == pytest.approx(v2 * size, abs=1)
    # a map of the input's white pixels puts all but the blurred rim of its mass in the mapped box
    assert map_in_box(white.astype(np.float32), (u1, v1, u2, v2)).mass_share > 0.93


def test_box_to_input_clips_and_rejects():
    cfg = PreprocessConfig(input_size=64, resize="center_crop")
    u1, _, u2, _ = box_to_input((0, 0, 40, 90), (90, 200, 3), cfg)   # left of the centre square
    assert u1 == u2 == 0.0
    assert box_to_input((0, 0, 200, 90), (90, 200, 3), PreprocessConfig(resize="letterbox"))[1] \
        == pytest.approx((224 - round(90 * 224 / 200)) // 2 / 224)
    with pytest.raises(BadInput, match="empty"):
        box_to_input((10, 10, 5, 20), (90, 200, 3), cfg)
