"""Post-processing semantics with hand-computed expectations (numpy only)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from runtime_helpers import make_schema

from edgefashion.errors import BadInput, SchemaError
from edgefashion.labels import Attribute, Category, LabelSchema
from edgefashion.runtime.postprocess import postprocess, sigmoid, softmax, topk

# make_schema(): attributes 0 striped, 1 dotted, 2 plain (texture, 0.5), 3 short-sleeve (0.5),
# 4 long-sleeve (0.6) [sleeve, exclusive], 5 v-neck (0.5), 6 crew-neck (0.4) [neck, exclusive];
# lower-body categories (pants=4, shorts=7, skirt=8) and hat=1 only get texture.
TSHIRT, PANTS = 9, 4


def logit(p) -> np.ndarray:
    p = np.asarray(p, np.float64)
    return np.log(p / (1 - p)).astype(np.float32)


def outputs_for(categories: list[int], attr_probs: list[list[float]], num_categories: int = 10):
    cat = np.full((len(categories), num_categories), -5.0, np.float32)
    cat[np.arange(len(categories)), categories] = 5.0
    return {"category_logits": cat, "attribute_logits": logit(attr_probs)}


CASE_A = [0.7, 0.55, 0.2, 0.8, 0.65, 0.45, 0.42]
CASE_C = [0.49, 0.49, 0.49, 0.59, 0.61, 0.9, 0.95]


def test_softmax_topk_hand_computed():
    logits = np.log(np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)) + 7.0
    probs = softmax(logits)
    np.testing.assert_allclose(probs, [[0.1, 0.2, 0.3, 0.4]], atol=1e-6)
    idx, vals = topk(probs, 3)
    assert idx.tolist() == [[3, 2, 1]]
    np.testing.assert_allclose(vals, [[0.4, 0.3, 0.2]], atol=1e-6)
    assert topk(probs, 10)[0].shape == (1, 4)  # k larger than C is clipped
    assert topk(np.array([[0.4, 0.4, 0.2]]), 3)[0].tolist() == [[0, 1, 2]]  # ties keep index order
    with pytest.raises(BadInput, match="top_k"):
        topk(probs, 0)


def test_softmax_sigmoid_do_not_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(sigmoid(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])
        np.testing.assert_allclose(softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])


def test_thresholds_exclusive_groups_and_applicability():
    schema = make_schema()
    out = postprocess(outputs_for([TSHIRT, PANTS, TSHIRT], [CASE_A, CASE_A, CASE_C]), schema, top_k=2)
    assert out.top_indices[:, 0].tolist() == [TSHIRT, PANTS, TSHIRT]
    np.testing.assert_allclose(out.attribute_scores, [CASE_A, CASE_A, CASE_C], atol=1e-6)
    assert out.attribute_labels.astype(int).tolist() == [
        # striped + dotted pass 0.5; sleeve: both pass, short (0.8) wins; neck: v-neck 0.45 < 0.5
        # fails, crew-neck 0.42 >= its 0.4 passes, so crew-neck although v-neck scores higher
        [1, 1, 0, 1, 0, 0, 1],
        # pants are lower-body: texture only
        [1, 1, 0, 0, 0, 0, 0],
        # texture 0.49 < 0.5; long 0.61 >= 0.6 beats short 0.59; crew 0.95 beats v-neck 0.9
        [0, 0, 0, 0, 1, 0, 1],
    ]


def test_global_and_per_name_threshold_override():
    schema = make_schema()
    outputs = outputs_for([TSHIRT], [CASE_A])
    assert postprocess(outputs, schema, threshold=0.6).attribute_labels.astype(int).tolist() == [
        [1, 0, 0, 1, 0, 0, 0]]
    assert postprocess(outputs, schema, threshold={"dotted": 0.6}).attribute_labels.astype(
        int).tolist() == [[1, 0, 0, 1, 0, 0, 1]]
    per_attr = [0.75, 0.5, 0.1, 0.9, 0.6, 0.4, 0.5]
    assert postprocess(outputs, schema, threshold=per_attr).attribute_labels.astype(
        int).tolist() == [[0, 1, 1, 0, 1, 1, 0]]
    for bad in (1.0, 0.0, -0.2, [0.5, 0.5]):
        with pytest.raises(BadInput, match="threshold"):
            postprocess(outputs, schema, threshold=bad)
    with pytest.raises(SchemaError, match="unknown attributes"):
        postprocess(outputs, schema, threshold={"glitter": 0.5})


def test_applicability_applies_before_exclusivity():
    schema = LabelSchema(
        categories=(Category("tee", "upper"), Category("polo", "upper")),
        attributes=(Attribute("v-neck", "neck"), Attribute("crew-neck", "neck"),
                    Attribute("collar", "neck")),
        exclusive_groups=("neck",), applicability={"tee": ("v-neck", "crew-neck")},
    )
    out = postprocess(outputs_for([0, 1], [[0.7, 0.2, 0.9]] * 2, 2), schema)
    # a tee has no collar: the best applicable neck label (v-neck) is reported, not nothing
    assert out.attribute_labels.astype(int).tolist() == [[1, 0, 0], [0, 0, 1]]


def _reference_row(cat_logits, attr_logits, schema, k):
    """Straightforward per-image reference of the documented semantics."""
    p = np.exp(cat_logits - cat_logits.max())
    p /= p.sum()
    order = sorted(range(len(p)), key=lambda i: (-p[i], i))[:k]
    s = 1 / (1 + np.exp(-attr_logits.astype(np.float64)))
    mask = schema.applicability_mask()[order[0]]
    on = [bool(s[a] >= schema.attributes[a].threshold and mask[a]) for a in range(len(s))]
    for g, idx in schema.group_indices().items():
        if g in schema.exclusive_groups:
            passing = [a for a in idx if on[a]]
            for a in idx:
                on[a] = bool(passing) and a == max(passing, key=lambda j: s[j])
    return order, on


def test_vectorised_batch_equals_per_image_reference():
    schema = make_schema()
    rng = np.random.default_rng(0)
    outputs = {"category_logits": rng.normal(0, 3, (64, 10)).astype(np.float32),
               "attribute_logits": rng.normal(0, 2, (64, 7)).astype(np.float32)}
    out = postprocess(outputs, schema, top_k=3)
    for i in range(64):
        order, on = _reference_row(outputs["category_logits"][i], outputs["attribute_logits"][i],
                                   schema, 3)
        assert out.top_indices[i].tolist() == order
        assert out.attribute_labels[i].tolist() == on
    np.testing.assert_allclose(out.category_probs.sum(1), 1.0, atol=1e-6)


def test_outputs_must_match_schema():
    schema = make_schema()
    with pytest.raises(SchemaError, match="9 category and 7 attribute outputs"):
        postprocess(outputs_for([0], [CASE_A], num_categories=9), schema)
    with pytest.raises(SchemaError, match="category_logits"):
        postprocess({"attribute_logits": logit([CASE_A])}, schema)


def test_categories_only_schema_needs_no_attribute_output():
    schema = LabelSchema.simple(["a", "b"])
    out = postprocess({"category_logits": np.array([[0.0, 1.0]], np.float32)}, schema)
    assert out.top_indices.tolist() == [[1, 0]] and out.attribute_labels.shape == (1, 0)
