"""The label schema's file format and defaults, written out by hand.

Every artifact carries its schema (ONNX metadata, checkpoints, engine sidecars), so its JSON is a
format: the exact keys, the defaults a minimal file gets, the version check, and errors that name
what is wrong.
"""
from __future__ import annotations

import json

import pytest

from edgefashion.errors import SchemaError
from edgefashion.labels import Attribute, Category, LabelSchema


def small() -> LabelSchema:
    return LabelSchema.simple(["tee", "jeans"], {"texture": ["striped", "dotted"], "fit": ["loose"]},
                              exclusive_groups=["fit"])


def test_simple_builds_names_groups_and_exclusive_groups():
    s = small()
    assert s.categories == (Category("tee", "any"), Category("jeans", "any"))
    assert s.attributes == (Attribute("striped", "texture", 0.5), Attribute("dotted", "texture", 0.5),
                            Attribute("loose", "fit", 0.5))
    assert s.groups == ("texture", "fit") and s.exclusive_groups == ("fit",)
    bare = LabelSchema.simple(["a", "b"])
    assert bare.num_attributes == 0 and bare.groups == () and bare.exclusive_groups == ()


def test_to_dict_is_the_documented_format():
    assert small().to_dict() == {
        "version": 1,
        "categories": [{"name": "tee", "type": "any"}, {"name": "jeans", "type": "any"}],
        "attributes": [{"name": "striped", "group": "texture", "threshold": 0.5},
                       {"name": "dotted", "group": "texture", "threshold": 0.5},
                       {"name": "loose", "group": "fit", "threshold": 0.5}],
        "groups": ["texture", "fit"],
        "exclusive_groups": ["fit"],
        "applicability": {},
        "softmax_groups": [],
        "category_temperature": 1.0,
        "group_temperatures": {},
    }
    trained = small().replace(softmax_groups=("fit",))
    assert trained.to_dict()["softmax_groups"] == ["fit"]
    trained = trained.with_temperatures(0.7, {"fit": 1.2})
    assert trained.to_dict()["group_temperatures"] == {"fit": 1.2}
    assert LabelSchema.from_dict(trained.to_dict()) == trained


def test_a_minimal_dict_gets_the_defaults():
    s = LabelSchema.from_dict({"categories": [{"name": "tee"}],
                               "attributes": [{"name": "striped", "group": "texture"}]})
    assert s.categories == (Category("tee", "any"),)
    assert s.attributes == (Attribute("striped", "texture", 0.5),) and s.groups == ("texture",)
    assert LabelSchema.from_dict({"categories": [{"name": "tee"}]}).num_attributes == 0
    assert s.softmax_groups == ()  # an older artifact: every attribute a sigmoid
    assert LabelSchema.from_dict({**small().to_dict(), "version": 1}) == small()


def test_a_newer_version_is_refused_by_name():
    with pytest.raises(SchemaError) as e:
        LabelSchema.from_dict({**small().to_dict(), "version": 7})
    assert str(e.value) == ("LabelSchema version 7 is newer than this edgefashion understands (1); "
                            "upgrade edgefashion")


def test_json_file_is_indented_and_round_trips(tmp_path):
    s = small()
    assert s.to_json() == json.dumps(s.to_dict())  # one line (metadata props)
    assert s.to_json(indent=4) == json.dumps(s.to_dict(), indent=4)
    path = tmp_path / "schema.json"
    s.save(path)
    assert path.read_text() == json.dumps(s.to_dict(), indent=2) + "\n"
    assert LabelSchema.load(path) == s
    with pytest.raises(SchemaError) as e:
        LabelSchema.load(tmp_path / "missing.json")
    assert str(e.value) == f"LabelSchema file {str(tmp_path / 'missing.json')!r} does not exist"


def test_size_mismatch_names_where():
    with pytest.raises(SchemaError) as e:
        small().check_outputs(3, 3)
    assert str(e.value).startswith("the model has 3 category and 3 attribute outputs, but the "
                                   "LabelSchema has 2 categories and 3 attributes")


def test_applicability_by_name_beats_type_and_names_single_attributes():
    s = LabelSchema(
        categories=(Category("tee", "upper"), Category("jeans", "lower"), Category("cap", "any"),
                    Category("dress", "full")),
        attributes=(Attribute("striped", "texture"), Attribute("long", "sleeve"),
                    Attribute("short", "sleeve")),
        applicability={"lower": ("texture",), "jeans": ("texture", "long"), "any": ("short",)})
    mask = s.applicability_mask()
    assert mask.dtype == bool and mask.shape == (4, 3)
    assert mask.tolist() == [[True, True, True],     # upper: no rule
                             [True, True, False],    # jeans: its own rule (a group and a name)
                             [False, False, True],   # cap: the "any" type's rule, one attribute
                             [True, True, True]]     # full: no rule
    assert s.categories == tuple(s.categories) and isinstance(s.attributes, tuple)
    assert isinstance(s.exclusive_groups, tuple)
    assert LabelSchema(categories=[Category("a")]).applicability_mask().shape == (1, 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"categories": ()}, "a LabelSchema needs at least one category; none were given"),
    ({"categories": (Category(""),)}, "a category name is empty; give every category a name"),
    ({"categories": (Category("a", "middle"),)},
     "category 'a' has type 'middle'; use one of upper, lower, full, any"),
    ({"categories": (Category("a"),), "attributes": (Attribute("x", "g"),), "groups": ("h", "i")},
     "attribute 'x' is in unknown group 'g'; known groups: h, i"),
    ({"categories": (Category("a"),), "attributes": (Attribute("x", "g"),), "exclusive_groups": ("f",)},
     "exclusive group 'f' is not a group; known: g"),
    ({"categories": (Category("a"),), "attributes": (Attribute("x", "g"),), "applicability": {"a": ("y",)}},
     "applicability of 'a' names 'y', which is neither a group nor an attribute"),
    ({"categories": (Category("a"),), "attributes": (Attribute("x", "g"),), "groups": ("g", "g")},
     "duplicate group name 'g'"),
])
def test_invalid_schemas_say_what_is_wrong(kwargs, message):
    with pytest.raises(SchemaError) as e:
        LabelSchema(**kwargs)
    assert message in str(e.value)
