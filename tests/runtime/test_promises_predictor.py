"""The Predictor applies "score >= threshold" at the boundary, with a real exported model."""
from __future__ import annotations

import numpy as np

F32 = np.float32


def test_predictor_threshold_boundary(onnx_predictor):
    """A score of the real model used as the threshold selects exactly that attribute and above."""
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    pred = onnx_predictor(img)
    scores = np.array(list(pred.scores.values()), F32)
    # the schema has exclusive groups: look at an independent (texture) attribute only
    texture = [i for i, a in enumerate(onnx_predictor.schema.attributes) if a.group == "texture"]
    applies = bool(onnx_predictor.schema.applicability_mask()[pred.category.index, texture].all())
    assert applies, "the fixture's top-1 must allow texture attributes"
    name = onnx_predictor.schema.attribute_names[texture[0]]
    t = float(scores[texture[0]])
    at = onnx_predictor(img, threshold={name: t})
    assert name in at.attributes["texture"]
    just_above = float(np.nextafter(F32(t), F32(1)))
    assert name not in onnx_predictor(img, threshold={name: just_above}).attributes["texture"]
