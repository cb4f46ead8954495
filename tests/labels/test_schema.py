from __future__ import annotations

import json

import numpy as np
import pytest

from edgefashion.errors import DatasetError, SchemaError
from edgefashion.labels import Attribute, Category, LabelSchema


def _schema(**kw) -> LabelSchema:
    base = dict(
        categories=(Category("Tee", "upper"), Category("Jeans", "lower"), Category("Dress", "full")),
        attributes=(Attribute("floral", "texture"), Attribute("striped", "texture"),
                    Attribute("v-neck", "neck"), Attribute("crew-neck", "neck", 0.3)),
        exclusive_groups=("neck",),
        applicability={"lower": ("texture",)},
    )
    base.update(kw)
    return LabelSchema(**base)


def test_groups_thresholds_and_applicability():
    s = _schema()
    assert s.groups == ("texture", "neck")
    assert s.group_indices() == {"texture": [0, 1], "neck": [2, 3]}
    np.testing.assert_allclose(s.thresholds(), [0.5, 0.5, 0.5, 0.3])
    mask = s.applicability_mask()
    assert mask.shape == (3, 4)
    assert mask[0].all() and mask[2].all()          # upper / full: everything
    assert mask[1].tolist() == [True, True, False, False]  # no neck type on jeans


def test_json_round_trip(tmp_path):
    s = _schema()
    assert LabelSchema.from_json(s.to_json()) == s
    path = s.save(tmp_path / "schema.json")
    assert LabelSchema.load(path) == s
    assert json.loads(path.read_text())["exclusive_groups"] == ["neck"]


@pytest.mark.parametrize("change, message", [
    (dict(categories=(Category("Tee"), Category("Tee"))), "duplicate category name 'Tee'"),
    (dict(attributes=(Attribute("a", "texture"), Attribute("a", "texture"))), "duplicate attribute"),
    (dict(attributes=(Attribute("a", "texture"),), groups=("shape",)), "unknown group 'texture'"),
    (dict(attributes=(Attribute("a", "texture", 1.0),)), "threshold 1.0"),
    (dict(attributes=(Attribute("a", "texture", 0.0),)), "threshold 0.0"),
    (dict(exclusive_groups=("colour",)), "exclusive group 'colour'"),
    (dict(applicability={"Hat": ("texture",)}), "applicability key 'Hat'"),
    (dict(categories=()), "at least one category"),
    (dict(categories=(Category("Tee", "torso"),)), "type 'torso'"),
])
def test_validation_errors_name_the_value(change, message):
    with pytest.raises(SchemaError, match=message):
        _schema(**change)


def test_check_outputs_mismatch():
    with pytest.raises(SchemaError, match="3 categories and 4 attributes"):
        _schema().check_outputs(10, 4)


def test_with_thresholds():
    s = _schema().with_thresholds({"floral": 0.7})
    assert s.thresholds()[0] == pytest.approx(0.7)
    with pytest.raises(SchemaError, match="unknown attributes"):
        s.with_thresholds({"nope": 0.5})


def test_from_json_rejects_garbage():
    with pytest.raises(SchemaError, match="does not parse"):
        LabelSchema.from_json("{not json")
    with pytest.raises(SchemaError, match="missing or wrong field"):
        LabelSchema.from_dict({"attributes": []})


def test_real_deepfashion_coarse_lists(deepfashion_meta):
    s = LabelSchema.from_deepfashion(deepfashion_meta / "Anno_coarse/list_category_cloth.txt",
                                     deepfashion_meta / "Anno_coarse/list_attr_cloth.txt")
    assert s.num_categories == 50 and s.num_attributes == 1000
    assert s.groups == ("texture", "fabric", "shape", "part", "style")
    assert [len(v) for v in s.group_indices().values()] == [156, 218, 180, 216, 230]
    types = [c.type for c in s.categories]
    assert types.count("upper") == 20 and types.count("lower") == 16 and types.count("full") == 14
    assert "abstract chevron print" in s.attribute_names  # names with spaces survive
    assert s.exclusive_groups == ()
    merged = LabelSchema.from_deepfashion(deepfashion_meta / "Anno_coarse/list_category_cloth.txt",
                                          drop_merged=True)
    assert merged.num_categories == 46


def test_real_deepfashion_fine_lists(deepfashion_meta):
    s = LabelSchema.from_deepfashion(deepfashion_meta / "Anno_coarse/list_category_cloth.txt",
                                     deepfashion_meta / "Anno_fine/list_attr_cloth.txt")
    assert s.num_attributes == 26
    assert s.groups == ("texture", "sleeve", "length", "neckline", "fabric", "fit")
    assert s.exclusive_groups == s.groups
    assert s.group_indices()["texture"] == list(range(7))


def test_from_folders(clothing_small):
    s = LabelSchema.from_folders(clothing_small / "train")
    assert s.num_categories == 10 and s.num_attributes == 0
    assert s.category_names[:3] == ["dress", "hat", "longsleeve"]


def test_malformed_list(tmp_path):
    bad = tmp_path / "list_category_cloth.txt"
    bad.write_text("2\ncategory_name  category_type\nTee 1\nno-type-here\n")
    with pytest.raises(DatasetError, match="entry 2 'no-type-here'"):
        LabelSchema.from_deepfashion(bad)
    with pytest.raises(DatasetError, match="does not exist"):
        LabelSchema.from_deepfashion(tmp_path / "missing.txt")
