"""Augmentation goes through the one shared preprocessing: shapes / dtypes kept, the identity
augmentation equals the runtime's tensor, landmarks follow random crops and flips (a white dot
drawn at a landmark stays under it), colour jitter stays uint8 and changes only colours."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefashion.data import GarmentDataset, Sample
from edgefashion.data.augment import PRESETS, AugmentConfig, augment_preset, color_jitter, random_region
from edgefashion.errors import BadInput
from edgefashion.runtime.images import load_image
from edgefashion.runtime.preprocess import PreprocessConfig, crop_box, preprocess

CFG = PreprocessConfig(input_size=64)


def _samples(real_photos, n=6):
    return [Sample(p, i % 3) for i, p in enumerate(real_photos[:n])]


@pytest.mark.parametrize("preset", ["light", "strong"])
def test_augmented_items_keep_shape_dtype_and_vary(real_photos, preset):
    ds = GarmentDataset(_samples(real_photos), CFG, train=True, augment=augment_preset(preset))
    torch.manual_seed(0)
    a = [ds[0]["image"] for _ in range(4)]
    for x in a:
        assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert not torch.equal(a[0], a[1])  # random crops / colours differ between epochs
    torch.manual_seed(0)
    assert torch.equal(ds[0]["image"], a[0])  # and follow torch's seed
    # evaluation datasets ignore the augmentation: exactly the runtime's preprocessing
    ev = GarmentDataset(_samples(real_photos), CFG, train=False, augment=augment_preset(preset))
    img = load_image(real_photos[0])
    assert np.array_equal(ev[0]["image"].numpy(), preprocess(img, CFG))


def test_identity_augmentation_is_the_shared_preprocessing(real_photos):
    """A crop of the whole region without colour change, and the colour path with (almost) no
    change, both give the runtime tensor: the augmentation only picks the box preprocess crops."""
    s = Sample(real_photos[1], 0, bbox=(20, 30, 300, 400))
    img = load_image(s.path)
    want = preprocess(img, CFG, s.bbox)
    still = AugmentConfig(crop_scale=(1, 1), crop_ratio=(1, 1), box_jitter=0, context_prob=0,
                          brightness=0, contrast=0, saturation=0)
    ds = GarmentDataset([s], CFG, train=True, flip_prob=0.0, augment=still)
    assert np.array_equal(ds[0]["image"].numpy(), want)
    tiny = AugmentConfig(crop_scale=(1, 1), crop_ratio=(1, 1), box_jitter=0, context_prob=0,
                         brightness=1e-9, contrast=0, saturation=0)
    assert np.array_equal(GarmentDataset([s], CFG, train=True, flip_prob=0.0, augment=tiny)[0][
        "image"].numpy(), want)
    assert np.array_equal(preprocess(crop_box(img, s.bbox), CFG), want)  # the identity it relies on


def test_landmarks_follow_random_crops_and_flips(tmp_path):
    import cv2

    img = np.zeros((240, 180, 3), np.uint8)
    x, y = 60, 150
    img[y - 3:y + 4, x - 3:x + 4] = 255  # a white dot exactly at landmark 0 (collar_left)
    path = tmp_path / "dot.png"
    cv2.imwrite(str(path), img)
    marks = np.zeros((8, 3), np.float32)
    marks[:, 2] = -1
    marks[0] = (x + 0.5, y + 0.5, 0)  # pixel centre, visible
    s = Sample(path, 0, bbox=(20, 40, 160, 220), landmarks=marks)
    cfg = PreprocessConfig(input_size=96, mean=(0, 0, 0), std=(1, 1, 1))
    ds = GarmentDataset([s], cfg, train=True, flip_prob=0.5, augment=AugmentConfig(
        crop_scale=(0.5, 1.0), brightness=0, contrast=0, saturation=0))
    checked = flips = 0
    torch.manual_seed(3)
    for _ in range(40):
        item = ds[0]
        lm = item["landmarks"].numpy()
        slot = int(np.argmax(lm[:, 2]))  # a flip moves the point to the collar_right slot
        if lm[slot, 2] == 0:
            continue  # cropped away: weight 0
        flips += slot != 0
        u, v = lm[slot, :2] * 96
        grey = item["image"].numpy().mean(0)
        ys, xs = np.nonzero(grey > 0.5)
        assert abs(xs.mean() + 0.5 - u) < 1.5 and abs(ys.mean() + 0.5 - v) < 1.5
        checked += 1
    assert checked >= 20 and 0 < flips < checked


def test_random_region_stays_inside_and_uses_context(real_photos):
    rng = np.random.default_rng(0)
    shape, box = (400, 300, 3), (100.0, 120.0, 200.0, 300.0)
    cfg = AugmentConfig(context_prob=1.0, crop_scale=(1, 1), crop_ratio=(1, 1), box_jitter=0)
    regions = [random_region(shape, box, cfg, rng) for _ in range(50)]
    for x1, y1, x2, y2 in regions:
        assert 0 <= x1 < x2 <= 300 and 0 <= y1 < y2 <= 400
    assert max(r[2] - r[0] for r in regions) > 180  # grows well beyond the 100 px box
    nobox = [random_region(shape, None, PRESETS["strong"], rng) for _ in range(50)]
    areas = [(r[2] - r[0]) * (r[3] - r[1]) / (300 * 400) for r in nobox]
    assert min(areas) >= 0.35 * 0.99 - 0.1 and max(areas) <= 1.0 and np.std(areas) > 0.05


def test_color_jitter_keeps_uint8_and_only_colours():
    rng = np.random.default_rng(0)
    img = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    out = color_jitter(img, PRESETS["strong"], rng)
    assert out.dtype == np.uint8 and out.shape == img.shape and not np.array_equal(out, img)
    none = AugmentConfig(brightness=0, contrast=0, saturation=0)
    assert np.array_equal(color_jitter(img, none, rng), img)


def test_bad_augment_configs_are_typed_errors():
    with pytest.raises(BadInput, match="crop_scale"):
        AugmentConfig(crop_scale=(0.5, 1.5))
    with pytest.raises(BadInput, match="brightness"):
        AugmentConfig(brightness=2.0)
    with pytest.raises(BadInput, match="augment"):
        augment_preset("heavy")
    with pytest.raises(BadInput, match="AugmentConfig"):
        GarmentDataset([], CFG, train=True, augment="strong")
