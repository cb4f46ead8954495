"""The synthetic generator: layout, labels, determinism, and that categories really look different."""
from __future__ import annotations

import hashlib
from collections import Counter

import cv2
import numpy as np
import pytest
from data_helpers import SYNTH_PER_CATEGORY

from edgefashion.data import generate_synthetic, read_deepfashion, synthetic_schema
from edgefashion.data.sample import ABSENT, VISIBLE
from edgefashion.data.synthetic import CATEGORIES, GROUPS, draw_garment, sample_garment
from edgefashion.data.synthetic_draw import COLOURS
from edgefashion.errors import BadInput

SLOTS = {"upper": (4, 5), "lower": (0, 1, 2, 3), "full": ()}  # absent slots per body type


def _digest(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_is_deepfashion_c(synth_root):
    for rel in ("Anno/list_category_cloth.txt", "Anno/list_attr_cloth.txt", "Anno/list_category_img.txt",
                "Anno/list_attr_img.txt", "Anno/list_bbox.txt", "Anno/list_landmarks.txt",
                "Eval/list_eval_partition.txt"):
        lines = (synth_root / rel).read_text().splitlines()
        assert lines[0].isdigit() and int(lines[0]) == len(lines) - 2, rel  # count, header, rows
        assert lines[1].startswith(("image_name", "category_name", "attribute_name")), rel
    row = (synth_root / "Anno/list_category_img.txt").read_text().splitlines()[2]
    assert row.startswith("img/Synthetic_Tee/img_00000001.jpg")
    assert len(list((synth_root / "img").rglob("*.jpg"))) == 7 * SYNTH_PER_CATEGORY


def test_reader_round_trip(synth_root):
    schema, samples = read_deepfashion(synth_root, check_images=True)
    assert schema == synthetic_schema()
    assert schema.category_names == [c for c, _ in CATEGORIES]
    assert schema.num_attributes == sum(len(v) for v in GROUPS.values()) == 20
    per_split = Counter((s.category, s.split) for s in samples)
    for c in range(7):  # 10 images: round(1.5) = 2 val, 2 test, 6 train, per category
        assert (per_split[c, "train"], per_split[c, "val"], per_split[c, "test"]) == (6, 2, 2)
    assert schema.applicability_mask()[schema.category_names.index("Skirt")].sum() == 4 + 8 + 3


def test_labels_follow_the_garments(synth_root):
    schema, samples = read_deepfashion(synth_root)
    groups = schema.group_indices()
    for s in samples:
        cat = schema.categories[s.category]
        for g in ("texture", "colour"):
            assert (s.attributes[groups[g]] == 1).sum() == 1
        n_sleeve = (s.attributes[groups["sleeve"]] == 1).sum()
        assert n_sleeve == (0 if cat.type == "lower" else 1)
        if cat.name in ("Tee", "Tank", "Sweater"):
            expected = {"Tee": "short_sleeve", "Tank": "sleeveless", "Sweater": "long_sleeve"}[cat.name]
            assert s.attributes[schema.attribute_names.index(expected)] == 1
        assert set(np.unique(s.attributes)) <= {-1, 1}  # no unknowns by default


def test_boxes_and_landmarks(synth_root):
    schema, samples = read_deepfashion(synth_root)
    for s in samples:
        x1, y1, x2, y2 = s.bbox
        assert 0 <= x1 < x2 <= 96 and 0 <= y1 < y2 <= 96
        assert (x2 - x1) * (y2 - y1) > 0.1 * 96 * 96          # the garment is not a speck
        body = schema.categories[s.category].type
        absent = s.landmarks[:, 2] == ABSENT
        assert sorted(np.nonzero(absent)[0].tolist()) == list(SLOTS[body])
        vis = s.landmarks[s.landmarks[:, 2] == VISIBLE]
        assert ((vis[:, 0] >= x1 - 2) & (vis[:, 0] <= x2 + 2)).all()
        assert ((vis[:, 1] >= y1 - 2) & (vis[:, 1] <= y2 + 2)).all()


def test_deterministic_by_seed(tmp_path, synth_root):
    a = generate_synthetic(tmp_path / "a", images_per_category=SYNTH_PER_CATEGORY, image_size=96, seed=3)
    assert _digest(a) == _digest(synth_root)
    b = generate_synthetic(tmp_path / "b", images_per_category=3, image_size=96, seed=4,
                           categories=["Tee"])
    da, db = _digest(a), _digest(b)
    name = "img/Synthetic_Tee/img_00000001.jpg"
    assert da[name] != db[name]


def test_image_k_depends_only_on_seed_category_and_k(tmp_path, synth_root):
    """A subset of categories / fewer images gives the same images for the same (category, k)."""
    sub = generate_synthetic(tmp_path / "sub", images_per_category=2, image_size=96, seed=3,
                             categories=["Skirt", "Tank"])
    schema, samples = read_deepfashion(sub)
    assert schema.category_names == ["Tank", "Skirt"]            # canonical order, re-indexed
    assert [s.category for s in samples] == [0, 0, 1, 1]
    for rel in ("img/Synthetic_Tank/img_00000002.jpg", "img/Synthetic_Skirt/img_00000001.jpg"):
        assert (sub / rel).read_bytes() == (synth_root / rel).read_bytes()


def test_unknown_fraction_writes_zero_labels(tmp_path):
    root = generate_synthetic(tmp_path / "u", images_per_category=6, image_size=64, seed=0,
                              unknown_fraction=0.3, categories=["Dress", "Shorts"])
    _, samples = read_deepfashion(root)
    labels = np.stack([s.attributes for s in samples])
    assert 0.15 < (labels == 0).mean() < 0.45
    assert (labels == 1).any() and (labels == -1).any()


def _silhouettes(category: str, n: int, seed: int) -> np.ndarray:
    """(n, 24, 24) garment masks cropped to their box, from the generator's own renderer."""
    out = []
    for k in range(n):
        rng = np.random.default_rng([seed, k])
        r = draw_garment(sample_garment(category, rng), rng, (96, 96))
        x1, y1, x2, y2 = r.bbox
        crop = np.ascontiguousarray(r.mask[y1:y2, x1:x2])
        out.append(cv2.resize(crop, (24, 24), interpolation=cv2.INTER_AREA) / 255.0)
    return np.stack(out)


def test_categories_have_distinct_silhouettes():
    names = [c for c, _ in CATEGORIES]
    means = np.stack([_silhouettes(c, 16, seed=1).mean(0) for c in names])
    dist = np.abs(means[:, None] - means[None]).mean(axis=(2, 3))
    off_diag = dist[~np.eye(len(names), dtype=bool)]
    assert off_diag.min() > 0.03, dist.round(3)
    # a nearest-mean-silhouette classifier on fresh garments is far above chance (1/7)
    hits = 0
    for ci, c in enumerate(names):
        test = _silhouettes(c, 8, seed=2)
        d = np.abs(test[:, None] - means[None]).mean(axis=(2, 3))
        hits += int((d.argmin(1) == ci).sum())
    assert hits / (8 * len(names)) > 0.6


@pytest.mark.parametrize("texture, lo, hi", [("plain", 0, 25), ("striped", 40, 255), ("checked", 40, 255)])
def test_textures_are_drawn(texture, lo, hi):
    """Plain garments are flat; stripes and checks are two-tone (std of pixels on the garment)."""
    stds = []
    for k in range(6):
        rng = np.random.default_rng([7, k])
        g = sample_garment("Skirt", rng)
        g = type(g)(g.category, texture, "blue", g.sleeve, g.neckline, frozenset())
        r = draw_garment(g, rng, (128, 128))
        inner = cv2.erode(r.mask, np.ones((5, 5), np.uint8)) > 0
        stds.append(float(r.image[inner].astype(np.float32).std(0).mean()))
    assert lo <= float(np.median(stds)) <= hi, stds


def test_colour_label_matches_pixels():
    rng = np.random.default_rng(11)
    for colour, bgr in COLOURS.items():
        g = sample_garment("Tee", rng)
        g = type(g)(g.category, "plain", colour, g.sleeve, g.neckline, frozenset())
        r = draw_garment(g, rng, (96, 96))
        inner = cv2.erode(r.mask, np.ones((5, 5), np.uint8)) > 0
        mean = r.image[inner].astype(np.float32).mean(0)
        nearest = min(COLOURS, key=lambda c: float(np.abs(np.asarray(COLOURS[c]) - mean).sum()))
        assert nearest == colour, (colour, mean)


@pytest.mark.parametrize("kwargs, message", [
    (dict(images_per_category=0), "images_per_category 0"),
    (dict(val_fraction=0.5, test_fraction=0.5), "sum to less than 1"),
    (dict(images_per_category=2, val_fraction=0.4, test_fraction=0.4), "leaves no training image"),
    (dict(categories=["Hat"]), "unknown synthetic categories"),
    (dict(image_size=16), "image_size"),
    (dict(unknown_fraction=1.0), "unknown_fraction"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(BadInput, match=message):
        generate_synthetic(tmp_path / "x", **kwargs)
