"""Export to ONNX for every registered model; ONNX Runtime equals PyTorch on real photos."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgefashion.errors import ExportError
from edgefashion.export.onnx import check_inputs_from_images, example_inputs, export_onnx
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class, list_models
from edgefashion.runtime.preprocess import PreprocessConfig
from tests.utils import TOLERANCES


def _setup(name):
    torch.manual_seed(0)
    cfg = get_model_class(name).tiny_config
    schema = LabelSchema.simple([f"c{i}" for i in range(10)], {"texture": ["a", "b", "c"]})
    return create_model(name, 10, 3, **cfg).eval(), schema, PreprocessConfig(input_size=cfg["input_size"])


@pytest.mark.parametrize("name", list_models())
def test_export_matches_pytorch_on_real_photos(name, real_photos, tmp_path):
    model, schema, prep = _setup(name)
    x = check_inputs_from_images(real_photos[:6], prep)
    path = tmp_path / "m.onnx"
    report = export_onnx(model, schema, prep, path, check_inputs=x, real_images=True)
    assert report.passed and report.top1_agreement == 1.0 and report.real_images

    proto = onnx.load(str(path))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["edgefashion"])
    assert meta["model"] == name and LabelSchema.from_dict(meta["schema"]) == schema
    assert meta["preprocess"]["input_size"] == prep.input_size
    assert meta["export"]["max_abs"]["category_logits"] == report.max_abs["category_logits"]
    assert len(meta["self_test"]["images"]) >= 1  # reference inputs for Predictor(self_test=True)

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[0] == "batch"   # dynamic batch
    names = [o.name for o in sess.get_outputs()]
    assert names == model.output_names
    x3 = x[:3]  # a batch size the export never saw
    feeds = example_inputs(model, torch.from_numpy(x3))  # image + neutral extra inputs
    got = dict(zip(names, sess.run(None, {k: v.numpy() for k, v in feeds.items()})))
    with torch.no_grad():
        ref = model(**feeds)
    atol, rtol = TOLERANCES["onnx_vs_torch"]
    for k in names:
        np.testing.assert_allclose(got[k], ref[k].numpy(), atol=atol, rtol=rtol)


def test_export_fails_above_tolerance_and_writes_nothing(real_photos, tmp_path):
    model, schema, prep = _setup("msfan")
    path = tmp_path / "m.onnx"
    x = check_inputs_from_images(real_photos[:2], prep)
    with pytest.raises(ExportError, match="was not written"):
        export_onnx(model, schema, prep, path, check_inputs=x, tolerance=0.0 - 1.0)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_custom_ops_export_emits_plugin_nodes(tmp_path):
    pytest.importorskip("edgefashion.ops.fused", reason="fused-op module not importable")
    model, schema, prep = _setup("msfan")
    path = tmp_path / "plugin.onnx"
    report = export_onnx(model, schema, prep, path, custom_ops=True)
    assert not report.checked
    proto = onnx.load(str(path))
    ops = {(n.domain, n.op_type) for n in proto.graph.node}
    assert ("edgefashion", "ChannelAttention") in ops and ("edgefashion", "SpatialGate") in ops
    assert not any(n.op_type == "ReduceMax" for n in proto.graph.node)  # no reference decomposition
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["edgefashion"])
    assert meta["export"]["checked"] is False
