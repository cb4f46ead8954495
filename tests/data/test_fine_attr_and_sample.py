"""read_fine_attr (real 26-attribute DeepFashion subset + hand-written files) and Sample."""
from __future__ import annotations

import numpy as np
import pytest
from data_helpers import write_tree

from edgefashion.data import Sample, read_fine_attr
from edgefashion.data.sample import ABSENT, VISIBLE
from edgefashion.errors import BadInput, DatasetError

ATTRS = """26 
attribute_name   attribute_type
floral               1
graphic              1
striped              1
embroidered          1
pleated              1
solid                1
lattice              1
long_sleeve          2
short_sleeve         2
sleeveless           2
maxi_length          3
mini_length          3
no_dress             3
crew_neckline        4
v_neckline           4
square_neckline      4
no_neckline          4
denim                5
chiffon              5
cotton               5
leather              5
faux                 5
knit                 5
tight                6
loose                6
conventional         6
"""


def _positives(schema, s):
    return [schema.attribute_names[i] for i in np.nonzero(s.attributes == 1)[0]]


def test_real_fine_attr_subset(fine_attr_root):
    schema, train = read_fine_attr(fine_attr_root, "train")
    _, val = read_fine_attr(fine_attr_root, "val")
    assert (len(train), len(val)) == (201, 50)
    assert schema.category_names == ["garment"] and schema.num_attributes == 26
    assert schema.groups == ("texture", "sleeve", "length", "neckline", "fabric", "fit")
    assert schema.exclusive_groups == schema.groups
    for s in train + val:  # exactly one class per group, the rest negative
        assert s.category == 0 and s.path.is_file()
        for idx in schema.group_indices().values():
            assert sorted(s.attributes[idx].tolist()) == [-1] * (len(idx) - 1) + [1]
    first = train[0]  # img/00001.jpg: "5 1 2 0 5 1", bbox "001 001 247 251"
    assert first.path == fine_attr_root / "img/00001.jpg" and first.split == "train"
    assert _positives(schema, first) == ["solid", "short_sleeve", "no_dress", "crew_neckline", "knit",
                                         "loose"]
    assert first.bbox == (1, 1, 247, 251)
    # landmarks "125 015 155 015 144 055 157 048 0 0 199 224 0 0 0 0"
    assert first.landmarks[0].tolist() == [125, 15, VISIBLE]
    assert first.landmarks[5].tolist() == [199, 224, VISIBLE]
    assert (first.landmarks[[4, 6, 7], 2] == ABSENT).all()
    _, both = read_fine_attr(fine_attr_root, None)
    assert len(both) == 251 and {s.split for s in both} == {"train", "val"}


@pytest.fixture
def fine(tmp_path):
    return write_tree(tmp_path / "fine", {
        "split/list_attr_cloth.txt": ATTRS,
        "split/train.txt": "img/00000.jpg\nimg/00001.jpg\n",
        "split/train_attr.txt": "5 0 2 0 2 2\n0 2 0 3 1 0\n",
        "split/train_bbox.txt": "062 062 165 300\n010 010 100 100\n",
        "split/train_landmards.txt": "0 0 0 0 0 0 139 231 0 0 0 0 0 0 0 0\n" + "1 1 " * 8 + "\n",
    })


def test_hand_written_fine_layout(fine):
    schema, samples = read_fine_attr(fine)
    assert _positives(schema, samples[1]) == ["floral", "sleeveless", "maxi_length", "no_neckline",
                                              "chiffon", "tight"]
    assert samples[0].landmarks[3].tolist() == [139, 231, VISIBLE]
    assert (samples[0].landmarks[:, 2] == ABSENT).sum() == 7


def test_binary_26_label_form_and_categories(fine):
    (fine / "split/train_attr.txt").write_text(
        " ".join(["1"] + ["0"] * 25) + "\n" + " ".join(["0"] * 25 + ["1"]) + "\n")
    write_tree(fine, {"split/list_category_cloth.txt": "2\ncategory_name  category_type\nTee 1\nSkirt 2\n",
                      "split/train_cate.txt": "2\n1\n"})
    schema, samples = read_fine_attr(fine)
    assert schema.category_names == ["Tee", "Skirt"]
    assert [s.category for s in samples] == [1, 0]
    assert _positives(schema, samples[0]) == ["floral"] and _positives(schema, samples[1]) == ["conventional"]


def test_category_list_without_labels_keeps_the_placeholder(fine):
    write_tree(fine, {"split/list_category_cloth.txt": "1\ncategory_name  category_type\nTee 1\n"})
    schema, samples = read_fine_attr(fine)  # no train_cate.txt: categories are unknown
    assert schema.category_names == ["garment"] and {s.category for s in samples} == {0}


@pytest.mark.parametrize("rel, text, message", [
    ("split/train_attr.txt", "5 0 2 0 2 2\n0 3 0 3 1 0\n",
     r"train_attr.txt:2: class 3 is out of range for group 'sleeve'"),
    ("split/train_attr.txt", "5 0 2 0 2\n0 2 0 3 1 0\n", r"train_attr.txt:1: expected 6 group class indices"),
    ("split/train_attr.txt", "5 0 2 0 2 2\n", "has 1 lines but the image list has 2"),
    ("split/train_bbox.txt", "062 062 165 300\n100 010 010 100\n", r"train_bbox.txt:2: bbox .* is not a box"),
    ("split/train_landmards.txt", "0 0\n0 0\n", r"train_landmards.txt:1: expected 16 landmark values"),
])
def test_fine_layout_errors(fine, rel, text, message):
    (fine / rel).write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_fine_attr(fine)


def test_fine_missing_split_and_lists(fine, tmp_path):
    with pytest.raises(DatasetError, match=r"val.txt does not exist; splits found in .*: train"):
        read_fine_attr(fine, "val")
    with pytest.raises(BadInput, match="split 'dev'"):
        read_fine_attr(fine, "dev")
    with pytest.raises(DatasetError, match="does not exist"):
        read_fine_attr(tmp_path / "nope")
    (fine / "split/list_attr_cloth.txt").unlink()
    with pytest.raises(DatasetError, match="attribute list .*list_attr_cloth.txt"):
        read_fine_attr(fine)


# ---------------------------------------------------------------------- Sample
def test_sample_normalises_and_freezes(tmp_path):
    s = Sample(str(tmp_path / "a.jpg"), 3, [1, -1, 0], (1, 2, 30, 40), np.zeros((8, 3)), "val")
    assert s.path == tmp_path / "a.jpg" and s.attributes.dtype == np.int8
    assert s.bbox == (1.0, 2.0, 30.0, 40.0) and s.landmarks.dtype == np.float32
    with pytest.raises(ValueError):
        s.attributes[0] = 0                     # arrays are read-only
    twin = Sample(tmp_path / "a.jpg", 3, np.array([1, -1, 0]), (1, 2, 30, 40), np.zeros((8, 3)), "val")
    assert s == twin and hash(s) == hash(twin) and len({s, twin}) == 1
    assert s != Sample(tmp_path / "a.jpg", 3, [1, -1, 1], (1, 2, 30, 40), np.zeros((8, 3)), "val")
    assert Sample(tmp_path / "a.jpg").category == -1


@pytest.mark.parametrize("kwargs, message", [
    (dict(attributes=[1, 2]), "1 / -1 / 0"),
    (dict(attributes=[[1, -1]]), "1-D"),
    (dict(bbox=(10, 10, 5, 20)), "x2 > x1"),
    (dict(bbox=(1, 2, 3)), r"\(x1, y1, x2, y2\)"),
    (dict(landmarks=np.zeros((6, 3))), r"\(8, 3\)"),
    (dict(landmarks=np.full((8, 3), 3.0)), "visibility"),
    (dict(split="training"), "split 'training'"),
    (dict(category=-2), "category -2"),
])
def test_sample_validation(kwargs, message):
    with pytest.raises(BadInput, match=message):
        Sample("x.jpg", **kwargs)
