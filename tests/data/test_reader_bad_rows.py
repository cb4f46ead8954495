"""Bad rows the readers must name: two positives in one exclusive group (fine-attr 26-value form,
DeepFashion-C list_attr_img.txt) and a fashion-product group column with a single value."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from data_helpers import write_tree

from edgefashion.data import read_deepfashion, read_fashion_product, read_fine_attr
from edgefashion.errors import DatasetError

# 6 attribute types -> the 6 exclusive groups texture, sleeve, length, neckline, fabric, fit
ATTR_LIST = """12
attribute_name  attribute_type
floral        1
striped       1
long_sleeve   2
short_sleeve  2
maxi_length   3
mini_length   3
crew_neckline 4
v_neckline    4
denim         5
cotton        5
tight         6
loose         6
"""
GOOD = "1 0 1 0 0 1 1 0 0 1 0 1"
TWO_TEXTURES = "1 1 0 1 0 1 1 0 0 1 0 1"  # floral and striped


def test_fine_attr_binary_row_with_two_positives_in_a_group_names_file_line_and_values(tmp_path):
    root = write_tree(tmp_path / "fa", {
        "split/list_attr_cloth.txt": ATTR_LIST,
        "split/test.txt": "img/a.jpg\nimg/b.jpg\n",
        "split/test_attr.txt": f"{GOOD}\n{TWO_TEXTURES}\n",
    })
    with pytest.raises(DatasetError) as e:
        read_fine_attr(root, "test")
    msg = str(e.value)
    assert f"{root / 'split' / 'test_attr.txt'}:2:" in msg
    assert "'floral' and 'striped'" in msg and "group 'texture'" in msg
    assert "fix the row" in msg and "multi-label" in msg


def test_fine_attr_binary_rows_with_one_positive_per_group_read(tmp_path):
    root = write_tree(tmp_path / "fa", {
        "split/list_attr_cloth.txt": ATTR_LIST,
        "split/test.txt": "img/a.jpg\n",
        "split/test_attr.txt": f"{GOOD}\n",
    })
    schema, (s,) = read_fine_attr(root, "test")
    positives = [schema.attribute_names[i] for i, v in enumerate(s.attributes) if v == 1]
    assert positives == ["floral", "long_sleeve", "mini_length", "crew_neckline", "cotton", "loose"]


def test_deepfashion_row_with_two_positives_in_an_exclusive_group(tmp_path):
    names = ["img/A/1.jpg", "img/A/2.jpg", "img/B/1.jpg"]
    root = write_tree(tmp_path / "df", {
        "Anno/list_category_cloth.txt": "2\ncategory_name  category_type\nTee 1\nDress 3\n",
        "Anno/list_attr_cloth.txt": ATTR_LIST,
        "Anno/list_category_img.txt": "3\nimage_name  category_label\n"
                                      + "".join(f"{n} {c}\n" for n, c in zip(names, (1, 1, 2))),
        "Anno/list_attr_img.txt": "3\nimage_name  attribute_labels\n" + "".join(
            f"{n} {row.replace('0', '-1')}\n" for n, row in zip(names, (GOOD, GOOD, TWO_TEXTURES))),
    })
    with pytest.raises(DatasetError) as e:
        read_deepfashion(root)
    msg = str(e.value)
    assert f"{root / 'Anno' / 'list_attr_img.txt'}:5:" in msg  # count line, header, then row 3
    assert "'floral' and 'striped'" in msg and "group 'texture'" in msg
    assert "edgefashion_schema.json" in msg


def _styles(root: Path, rows: list[dict]) -> Path:
    (root / "images").mkdir(parents=True)
    fields = ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season",
              "year", "usage", "productDisplayName"]
    with open(root / "styles.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
            (root / "images" / f"{r['id']}.jpg").write_bytes(b"not decoded by the reader")
    return root


def test_fashion_product_single_value_group_warns_and_is_kept(tmp_path):
    rows = [{"id": str(i), "gender": g, "masterCategory": "Apparel", "subCategory": "Topwear",
             "articleType": t, "baseColour": c, "season": "Summer", "usage": "Casual"}
            for i, (g, t, c) in enumerate([("Men", "Tshirts", "Blue"), ("Women", "Tops", "Red"),
                                           ("Men", "Shirts", "Blue")])]
    root = _styles(tmp_path / "fp", rows)
    with pytest.warns(UserWarning) as got:
        schema, samples = read_fashion_product(root)
    said = [str(w.message) for w in got]
    for col, value in [("masterCategory", "Apparel"), ("subCategory", "Topwear"),
                       ("season", "Summer"), ("usage", "Casual")]:
        assert any(f"column {col!r} has the single value {value!r}" in m for m in said), said
    assert not any("'gender'" in m or "'baseColour'" in m for m in said)
    assert len(samples) == 3 and schema.group_indices()["masterCategory"] == [0]
