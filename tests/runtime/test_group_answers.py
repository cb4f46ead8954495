"""Group answers: a model trained with softmax groups scores them as a softmax and answers each
exclusive group's best applicable value, r.groups[...] -> (value, score); an older model (no
softmax groups in its metadata) answers as before. Real ONNX Runtime on the tiny known-weight graph."""
from __future__ import annotations

import numpy as np
import pytest
import tiny_onnx as T

from edgefashion.runtime.postprocess import group_value, postprocess, sigmoid, softmax
from edgefashion.runtime.prediction import Prediction
from edgefashion.runtime.predictor import Predictor
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess

pytestmark = pytest.mark.needs_data
PREP = PreprocessConfig(input_size=T.SIZE)


@pytest.fixture(scope="module")
def models(tmp_path_factory, schema):
    d = tmp_path_factory.mktemp("groups")
    grouped = schema.replace(softmax_groups=("sleeve", "neck"))
    return {"old": (T.build(d / "old.onnx", schema), schema),
            "grouped": (T.build(d / "grouped.onnx", grouped), grouped)}


def _outputs(schema, photo):
    from edgefashion.runtime.images import load_image

    x = preprocess(load_image(photo), PREP)[None]
    return T.forward(x, T.weights(schema))


def test_softmax_groups_score_as_a_softmax_and_always_answer(models, real_photos):
    path, schema = models["grouped"]
    p = Predictor(path)
    assert p.schema.softmax_groups == ("sleeve", "neck")  # read back from the ONNX metadata
    groups = schema.group_indices()
    for photo in real_photos[:4]:
        r = p(photo)
        logits = _outputs(schema, photo)["attribute_logits"][0]
        for g in ("sleeve", "neck"):
            idx = groups[g]
            want = softmax(logits[idx])
            got = np.array([r.scores[schema.attribute_names[i]] for i in idx])
            np.testing.assert_allclose(got, want, atol=1e-5)
            allowed = p._applicable[r.category.index, idx]
            best = idx[int(np.argmax(np.where(allowed, want, -1)))] if allowed.any() else None
            if best is None:
                assert g not in r.groups and r.attributes[g] == []
                continue
            name = schema.attribute_names[best]
            assert r.groups[g] == (group_value(name, g), pytest.approx(float(want[idx.index(best)])))
            assert r.attributes[g] == [name]  # answered whatever the threshold
        again = Prediction.from_dict(r.to_dict())
        assert again.groups == r.groups


def test_a_model_without_softmax_groups_answers_as_before(models, real_photos):
    path, schema = models["old"]
    p = Predictor(path)
    assert p.schema.softmax_groups == ()
    for photo in real_photos[:4]:
        r = p(photo)
        out = _outputs(schema, photo)
        post = postprocess(out, schema)
        np.testing.assert_allclose([r.scores[n] for n in schema.attribute_names],
                                   sigmoid(out["attribute_logits"][0]), atol=1e-5)
        labels = post.attribute_labels[0]
        for g, idx in schema.group_indices().items():
            assert r.attributes[g] == sorted([schema.attribute_names[i] for i in idx if labels[i]],
                                             key=lambda n: -r.scores[n])
        for g in schema.exclusive_groups:  # the group answer: best applicable sigmoid score
            if g in r.groups:
                value, score = r.groups[g]
                assert score == pytest.approx(max(r.scores[schema.attribute_names[i]]
                                                  for i in schema.group_indices()[g]
                                                  if p._applicable[r.category.index, i]))


def test_group_value_strips_the_column_prefix():
    assert group_value("baseColour=Navy Blue", "baseColour") == "Navy Blue"
    assert group_value("floral", "texture") == "floral"
