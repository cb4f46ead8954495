"""Prediction objects: category view, grouping, JSON round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgefashion.errors import ImageDecodeError
from edgefashion.runtime.prediction import CategoryResult, Prediction


@pytest.fixture
def prediction() -> Prediction:
    names = ["blouse", "tee", "top", "dress"]
    probs = np.array([0.6, 0.25, 0.1, 0.05], np.float32)
    cat = CategoryResult("blouse", 0.6000000238418579, 0, [("blouse", 0.6), ("tee", 0.25)],
                         names, probs)
    return Prediction(
        source="shirt.jpg", category=cat,
        attributes={"texture": ["floral", "striped"], "neck": []},
        scores={"floral": 0.91, "striped": 0.52, "v-neck": 0.12},
        gates={"gate1": np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)},
        bbox=(1.0, 2.0, 30.0, 40.0), timings={"preprocess": 1.5, "inference": 3.25, "postprocess": 0.1},
    )


def test_category_view(prediction):
    c = prediction.category
    assert (c.label, c.index) == ("blouse", 0)
    assert c.top(1) == [("blouse", 0.6)]
    assert c.top() == [("blouse", 0.6), ("tee", 0.25)]
    # more than the ranked top-k: computed from the full probabilities
    assert [n for n, _ in c.top(4)] == ["blouse", "tee", "top", "dress"]
    assert prediction.labels == ["floral", "striped"]
    assert prediction.attribute_scores is prediction.scores
    assert prediction.ok


def test_to_dict_json_round_trip(prediction):
    d = prediction.to_dict(gates=True)
    text = json.dumps(d)
    assert json.loads(text) == d
    back = Prediction.from_dict(json.loads(text))
    assert back.to_dict(gates=True) == d
    assert back.category.top(2) == prediction.category.top(2)
    np.testing.assert_allclose(back.gates["gate1"], prediction.gates["gate1"], atol=1e-4)
    assert "gates" not in prediction.to_dict()  # large; only on request


def test_error_prediction_round_trip():
    p = Prediction("<3 bytes>", error=ImageDecodeError("image <3 bytes> is corrupt"))
    d = json.loads(json.dumps(p.to_dict()))
    assert d["category"] is None
    assert d["error"] == {"type": "ImageDecodeError", "message": "image <3 bytes> is corrupt"}
    back = Prediction.from_dict(d)
    assert isinstance(back.error, ImageDecodeError) and not back.ok
    assert "ImageDecodeError" in repr(back)
