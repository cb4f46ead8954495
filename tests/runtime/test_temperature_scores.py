"""The schema's temperatures: validated, carried through JSON, applied to the category and the
softmax groups' scores by post-processing, and never changing an answer."""
import numpy as np
import pytest

from edgefashion.errors import SchemaError
from edgefashion.labels.schema import Attribute, Category, LabelSchema
from edgefashion.runtime.postprocess import postprocess, softmax


def _schema(**kw):
    return LabelSchema((Category("a"), Category("b"), Category("c")),
                       (Attribute("men", "gender"), Attribute("women", "gender"),
                        Attribute("dots", "pattern"), Attribute("stripes", "pattern")),
                       exclusive_groups=("gender",), softmax_groups=("gender",), **kw)


def _outputs(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {"category_logits": rng.normal(0, 3, (n, 3)).astype(np.float32),
            "attribute_logits": rng.normal(0, 2, (n, 4)).astype(np.float32)}


def test_scores_are_divided_answers_unchanged():
    outs = _outputs()
    plain = postprocess(outs, _schema(), top_k=3)
    scaled = postprocess(outs, _schema(category_temperature=0.5, group_temperatures={"gender": 2.0}), top_k=3)
    np.testing.assert_allclose(scaled.category_probs, softmax(outs["category_logits"] / 0.5, axis=1), rtol=1e-6)
    np.testing.assert_allclose(scaled.attribute_scores[:, :2],
                               softmax(outs["attribute_logits"][:, :2] / 2.0, axis=1), rtol=1e-6)
    # the multi-label group keeps its sigmoids and thresholds
    np.testing.assert_array_equal(scaled.attribute_scores[:, 2:], plain.attribute_scores[:, 2:])
    np.testing.assert_array_equal(scaled.top_indices, plain.top_indices)
    np.testing.assert_array_equal(scaled.attribute_labels, plain.attribute_labels)
    assert (scaled.top_probs[:, 0] > plain.top_probs[:, 0]).all()  # T < 1 sharpens


def test_temperature_one_is_bit_identical_to_none():
    outs = _outputs(seed=1)
    a = postprocess(outs, _schema(), top_k=2)
    b = postprocess(outs, _schema(category_temperature=1.0, group_temperatures={"gender": 1.0}), top_k=2)
    np.testing.assert_array_equal(a.category_probs, b.category_probs)
    np.testing.assert_array_equal(a.attribute_scores, b.attribute_scores)


def test_json_round_trip_and_older_schemas():
    s = _schema(category_temperature=0.7, group_temperatures={"gender": 1.3})
    d = s.to_dict()
    assert d["category_temperature"] == 0.7 and d["group_temperatures"] == {"gender": 1.3}
    assert LabelSchema.from_dict(d) == s
    old = {k: v for k, v in d.items() if "temperature" not in k}  # written before temperatures
    assert LabelSchema.from_dict(old).category_temperature == 1.0
    assert LabelSchema.from_dict(old).group_temperatures == {}


@pytest.mark.parametrize("kw, match", [
    ({"category_temperature": 0.0}, "temperature of 'category' is 0.0"),
    ({"category_temperature": float("inf")}, "finite number > 0"),
    ({"group_temperatures": {"gender": -1}}, "temperature of 'gender' is -1.0"),
    ({"group_temperatures": {"pattern": 0.5}}, "group 'pattern', which is not a softmax group"),
    ({"category_temperature": "warm"}, "temperature 'warm' is not a number"),
])
def test_bad_temperatures_are_schema_errors(kw, match):
    with pytest.raises(SchemaError, match=match):
        _schema(**kw)


def test_a_group_no_longer_softmax_drops_its_temperature():
    s = _schema(group_temperatures={"gender": 0.8}).replace(softmax_groups=())
    assert s.group_temperatures == {} and s.softmax_temperatures() == []
