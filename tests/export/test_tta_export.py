"""``export --tta flip``: the graph averages the logits of each image and its mirror, on ONNX Runtime
as in PyTorch, at any batch size; the Predictor runs the file; the metadata says so."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgefashion.errors import ExportError
from edgefashion.export.onnx import check_inputs_from_images, export_onnx
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class
from edgefashion.models.tta import FlipTTA
from edgefashion.runtime.preprocess import PreprocessConfig
from tests.utils import TOLERANCES


@pytest.fixture(scope="module")
def lite():
    torch.manual_seed(0)
    cfg = get_model_class("msfan_lite").tiny_config
    schema = LabelSchema.simple([f"c{i}" for i in range(4)], {"texture": ["a", "b"]})
    return create_model("msfan_lite", 4, 2, **cfg).eval(), schema, PreprocessConfig(input_size=cfg["input_size"])


def test_flip_tta_graph_averages_the_mirrored_logits(lite, real_photos, tmp_path):
    model, schema, prep = lite
    x = check_inputs_from_images(real_photos[:5], prep)
    path = tmp_path / "tta.onnx"
    report = export_onnx(model, schema, prep, path, check_inputs=x, real_images=True, tta="flip")
    assert report.passed and report.tta == "flip"
    meta = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["edgefashion"])
    assert meta["export"]["tta"] == "flip" and meta["model"] == "msfan_lite"

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    assert names == model.output_names
    got = dict(zip(names, sess.run(None, {"image": x[:3]})))  # a batch size the export never saw
    t = torch.from_numpy(x[:3])
    with torch.no_grad():
        plain, mirror = model(t), model(t.flip(3))
    atol, rtol = TOLERANCES["onnx_vs_torch"]
    for k in ("category_logits", "attribute_logits"):
        np.testing.assert_allclose(got[k], ((plain[k] + mirror[k]) / 2).numpy(), atol=atol, rtol=rtol)
    np.testing.assert_allclose(got["gate3"], plain["gate3"].numpy(), atol=atol, rtol=rtol)  # unflipped view
    assert not np.allclose(got["category_logits"], plain["category_logits"].numpy(), atol=1e-4)


def test_flip_tta_predictor_runs_the_file(lite, real_photos, tmp_path):
    from edgefashion import Predictor

    model, schema, prep = lite
    path = tmp_path / "tta.onnx"
    export_onnx(model, schema, prep, path, check_inputs=check_inputs_from_images(real_photos[:2], prep),
                real_images=True, tta="flip")
    result = Predictor(str(path), backend="onnxruntime")(real_photos[0])
    with torch.no_grad():
        x = torch.from_numpy(check_inputs_from_images(real_photos[:1], prep))
        want = FlipTTA(model)(x)["category_logits"].softmax(1)[0]
    assert result.category.label == schema.category_names[int(want.argmax())]
    assert result.category.score == pytest.approx(float(want.max()), abs=1e-4)


def test_unknown_tta_mode(lite, tmp_path):
    model, schema, prep = lite
    with pytest.raises(ExportError, match="tta 'five-crop'"):
        export_onnx(model, schema, prep, tmp_path / "x.onnx", tta="five-crop")
