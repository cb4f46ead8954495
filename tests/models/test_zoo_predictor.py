"""Every registered model, exported to ONNX and saved as a checkpoint, is served by the Predictor.

Parametrized over ``list_models()``: a model added to the registry is tested without new code.
Both artifacts give a Prediction with a category and the fields the model's outputs provide
(gate / attention / cam maps -> ``gates``, "landmarks" -> ``landmarks`` in image pixels,
"embedding" -> ``embedding``), and the two agree.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import edgefashion
from edgefashion.errors import BadInput
from edgefashion.export.onnx import check_inputs_from_images, export_onnx
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class, list_models, save_checkpoint
from edgefashion.runtime.images import load_image
from edgefashion.runtime.predictor import MAP_PREFIXES
from edgefashion.runtime.preprocess import PreprocessConfig
from tests.utils import TOLERANCES

ATTRS = {"texture": ["plain", "striped", "floral"], "shape": ["long", "short"]}


@pytest.fixture(scope="module", params=list_models())
def artifacts(request, real_photos, tmp_path_factory):
    """(model, schema, {"onnx": path, "pt": path}) for one registered model at its tiny size."""
    name = request.param
    torch.manual_seed(0)
    cfg = get_model_class(name).tiny_config
    cats = sorted({p.parent.name for p in real_photos})
    schema = LabelSchema.simple(cats, ATTRS)
    model = create_model(name, schema.num_categories, schema.num_attributes, **cfg).eval()
    prep = PreprocessConfig(input_size=cfg["input_size"])
    out = tmp_path_factory.mktemp(name)
    x = check_inputs_from_images(real_photos[:4], prep)
    report = export_onnx(model, schema, prep, out / "m.onnx", check_inputs=x, real_images=True)
    assert report.passed
    pt = save_checkpoint(out / "m.pt", model, schema, prep)
    return model, schema, {"onnx": out / "m.onnx", "pt": pt}


def _check_prediction(pred, model, schema, photo) -> None:
    assert pred.ok and pred.category.label in schema.category_names
    assert abs(float(pred.category.probs.sum()) - 1) < 1e-4
    assert set(pred.attributes) == set(schema.groups) and len(pred.scores) == schema.num_attributes
    outputs = model.output_names
    maps = [k for k in outputs if k.startswith(MAP_PREFIXES)]
    assert sorted(pred.gates) == sorted(maps)
    for g in pred.gates.values():
        assert g.ndim == 2 and 0 <= g.min() and g.max() <= 1
    if "landmarks" in outputs:
        h, w = load_image(photo).shape[:2]
        assert pred.landmarks and len(pred.landmarks) == len(getattr(model, "landmark_names", pred.landmarks))
        for x, y, conf in pred.landmarks.values():
            assert -1 <= x <= w + 1 and -1 <= y <= h + 1 and 0 <= conf <= 1
    else:
        assert pred.landmarks is None
    if "embedding" in outputs:
        assert pred.embedding.ndim == 1 and abs(float(np.linalg.norm(pred.embedding)) - 1) < 1e-3
    else:
        assert pred.embedding is None


def test_onnx_and_checkpoint_are_served_and_agree(artifacts, real_photos):
    model, schema, paths = artifacts
    photos = real_photos[:3]
    preds = {}
    for kind, path in paths.items():
        p = edgefashion.Predictor(path, **({"threads": 1} if kind == "onnx" else {}))
        got = p(photos)
        assert len(got) == len(photos)
        for pred, photo in zip(got, photos):
            _check_prediction(pred, model, schema, photo)
        preds[kind] = got
    atol, rtol = TOLERANCES["onnx_vs_torch"]
    for a, b in zip(preds["onnx"], preds["pt"]):
        assert a.category.label == b.category.label
        np.testing.assert_allclose(a.category.probs, b.category.probs, atol=atol, rtol=rtol)
        np.testing.assert_allclose([a.scores[n] for n in schema.attribute_names],
                                   [b.scores[n] for n in schema.attribute_names], atol=atol, rtol=rtol)
        for k in a.gates:
            np.testing.assert_allclose(a.gates[k], b.gates[k], atol=atol, rtol=rtol)
        if a.embedding is not None:
            np.testing.assert_allclose(a.embedding, b.embedding, atol=atol, rtol=rtol)


def test_known_attributes_only_where_the_model_takes_them(artifacts, real_photos):
    model, schema, paths = artifacts
    p = edgefashion.Predictor(paths["onnx"], threads=1)
    known = {schema.attribute_names[0]: True, schema.attribute_names[1]: False}
    if "known" in model.input_names:
        pred = p(real_photos[0], known=known)
        assert pred.ok and pred.category.label in schema.category_names
    else:
        with pytest.raises(BadInput, match="known="):
            p(real_photos[0], known=known)
