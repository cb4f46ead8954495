"""Post-processing contracts the other runtime code relies on: float32 out whatever the model's
output dtype (an fp16-IO model gives float16), the default top-5, top values that are the
probabilities of the top indices, and typed errors that say what is wrong with the outputs."""
from __future__ import annotations

import numpy as np
import pytest
from runtime_helpers import make_schema

from edgefashion.errors import SchemaError
from edgefashion.labels import LabelSchema
from edgefashion.runtime.postprocess import check_outputs, postprocess


def outputs(n: int = 3, dtype=np.float16) -> dict:
    rng = np.random.default_rng(0)
    return {"category_logits": rng.normal(0, 3, (n, 10)).astype(dtype),
            "attribute_logits": rng.normal(0, 3, (n, 7)).astype(dtype)}


def test_check_outputs_gives_float32_for_half_outputs():
    cat, attr = check_outputs(outputs(), make_schema())
    assert cat.dtype == attr.dtype == np.float32 and cat.shape == (3, 10) and attr.shape == (3, 7)
    no_attrs = LabelSchema.simple([f"c{i}" for i in range(10)])
    cat, attr = check_outputs({"category_logits": outputs()["category_logits"]}, no_attrs)
    assert attr.shape == (3, 0) and attr.dtype == np.float32


@pytest.mark.parametrize("bad, message", [
    ({"attribute_logits": np.zeros((3, 7), np.float32)}, "have no 'category_logits'; is this an edgefashion model?"),
    ({"category_logits": np.zeros(10, np.float32)}, "model outputs have shapes (10,) / "),
    ({"category_logits": np.zeros((3, 10), np.float32), "attribute_logits": np.zeros(7, np.float32)},
     "model outputs have shapes (3, 10) / (7,); expected (N, C) category and (N, A) attribute logits"),
    ({"category_logits": np.zeros((3, 10), np.float32), "attribute_logits": np.zeros((2, 7), np.float32)},
     "(3, 10) / (2, 7)"),
])
def test_bad_outputs_are_schema_errors_that_say_what(bad, message):
    with pytest.raises(SchemaError) as e:
        check_outputs(bad, make_schema())
    assert message in str(e.value)


def test_default_top_k_is_five_and_top_values_are_the_probabilities():
    out = outputs(dtype=np.float32)
    post = postprocess(out, make_schema())
    assert post.top_indices.shape == post.top_probs.shape == (3, 5)
    np.testing.assert_array_equal(post.top_probs,
                                  np.take_along_axis(post.category_probs, post.top_indices, axis=1))
    assert post.top_probs.dtype == post.category_probs.dtype == post.attribute_scores.dtype == np.float32
    np.testing.assert_allclose(post.category_probs.sum(1), 1.0, rtol=1e-6)
    half = postprocess(outputs(), make_schema())
    assert half.category_probs.dtype == np.float32


def test_softmax_is_stable_per_row_and_rounded_once():
    from edgefashion.runtime.postprocess import softmax

    # rows far apart: shifting by a max over the whole batch would underflow the second row to 0/0
    probs = softmax(np.array([[1000.0, 999.0], [-1000.0, -1001.0]], np.float32))
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs, [[1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))]] * 2, rtol=1e-6)
    x = np.random.default_rng(1).normal(0, 5, (500, 10)).astype(np.float32)
    e = np.exp(x.astype(np.float64) - x.max(1, keepdims=True))
    np.testing.assert_array_equal(softmax(x), (e / e.sum(1, keepdims=True)).astype(np.float32))


def test_topk_of_one_and_stable_order_among_many_ties():
    from edgefashion.runtime.postprocess import topk

    probs = np.full((2, 100), 0.01, np.float32)
    probs[1, 50] = 0.02
    idx, vals = topk(probs, 1)
    assert idx.tolist() == [[0], [50]] and vals.shape == (2, 1)
    idx, _ = topk(probs, 20)
    assert idx[0].tolist() == list(range(20))              # ties keep the schema's order
    assert idx[1].tolist() == [50] + list(range(19))


def test_topk_ties_keep_index_order_in_a_large_model():
    from edgefashion.runtime.postprocess import topk

    p = np.random.default_rng(0).choice(np.array([0.1, 0.2, 0.3], np.float32), (1, 1000))
    idx, _ = topk(p, 1000)
    want = sorted(range(1000), key=lambda i: (-p[0, i], i))  # by score, then by index
    assert idx[0].tolist() == want
