"""fp16 ONNX: fp16 weights, the sensitive ops in fp32, fp32 I/O, gated and self-tested, on real photos."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from edgefashion.runtime.metadata import read_onnx_metadata
from edgefashion.runtime.predictor import Predictor
from edgefashion.runtime.selftest import run_self_test

pytestmark = pytest.mark.needs_data


def _input_types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*g.value_info, *g.input, *g.output]}
    types.update({i.name: i.data_type for i in g.initializer})
    return types


def test_fp16_graph_keeps_sensitive_ops_in_fp32(fp16_result):
    model = onnx.load(fp16_result["output"])
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert all(o.type.tensor_type.elem_type == TensorProto.FLOAT for o in model.graph.output)
    conv_weights = [n.input[1] for n in model.graph.node if n.op_type == "Conv"]
    inits = {i.name: i.data_type for i in model.graph.initializer}
    fp16 = [w for w in conv_weights if inits.get(w) == TensorProto.FLOAT16]
    assert len(fp16) >= len(conv_weights) - 4  # the 1x1 gate convs may stay fp32 (attention)
    types = _input_types(model)
    sensitive = [n for n in model.graph.node if n.op_type in ("ReduceMean", "ReduceMax", "Sigmoid")]
    assert len(sensitive) == 16  # 4 stages x (GAP, GMP, channel sigmoid, spatial sigmoid)
    for node in sensitive:
        assert types[node.input[0]] == TensorProto.FLOAT, node.name
    assert {n.name for n in sensitive} <= set(fp16_result["fp32_nodes"])


def test_fp16_agrees_with_fp32_on_real_photos(fp16_result):
    acc = fp16_result["accuracy"]
    assert fp16_result["eval"]["num_images"] == 30 and acc["num_images"] == 30
    assert acc["category"]["labels"] == "known (30 images)"
    assert acc["category"]["top1_agreement"] >= 29 / 30
    for name in ("category_logits", "attribute_logits", "gate1", "gate4"):
        assert acc["outputs"][name]["cosine_min"] > 0.999, name
    assert acc["outputs"]["category_logits"]["max_abs"] < 0.05
    assert fp16_result["accuracy"]["gate"]["passed"]


def test_fp16_runs_in_the_predictor_and_carries_its_report(fp16_result, onnx_path, eval_photos):
    path = fp16_result["output"]
    meta = read_onnx_metadata(path)
    assert meta["precision"]["precision"] == "fp16"
    assert meta["precision"]["accuracy"]["category"] == fp16_result["accuracy"]["category"]
    assert meta["schema"] == read_onnx_metadata(onnx_path)["schema"]
    saved = json.loads(Path(fp16_result["report_path"]).read_text())
    assert saved["output"] == path and saved["accuracy"]["num_images"] == 30
    ref, half = Predictor(onnx_path, threads=1), Predictor(path, threads=1)
    a, b = ref(eval_photos[:8]), half(eval_photos[:8])
    assert [p.category.label for p in a] == [p.category.label for p in b]
    report = run_self_test(half)
    assert report["passed"] and report["precision"] == "fp16" and report["images"] == 4


def test_fp16_io_takes_half_inputs(onnx_path, tmp_path, eval_photos):
    from edgefashion.precision import quantize_onnx

    res = quantize_onnx(onnx_path, tmp_path / "io.onnx", "fp16", fp16_io=True,
                        eval_images=eval_photos[:6], progress=False, report_path=None)
    model = onnx.load(res["output"])
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT16
    assert not (tmp_path / "io.onnx.report.json").exists()
    p = Predictor(res["output"], threads=1)
    out = p.infer(p.backend.dummy_inputs(2)["image"])
    assert out["category_logits"].dtype == np.float16 and out["category_logits"].shape == (2, 10)
    assert p(eval_photos[0]).category.label in p.schema.category_names
