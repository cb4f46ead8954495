"""A model with no attributes (clothing-small: 0) has an empty attribute head, a Gemm with a (0, K)
weight. OpenVINO's ONNX reader refused such files ("Scalars are not supported as MatMul inputs"),
so no model trained on category-only data ran on OpenVINO. The exporter now writes the head as an
empty Slice, and OpenVINO rewrites files exported before (runtime/empty_heads.py)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino)")

from edgefashion.runtime.empty_heads import replace_empty_gemms  # noqa: E402
from edgefashion.runtime.backends.openvino import read_ov_model  # noqa: E402
from edgefashion.runtime.predictor import Predictor  # noqa: E402


def _empty_head_graph(quantized: bool) -> onnx.ModelProto:
    """x (N, 4) -> Relu -> Gemm with a (0, 4) weight -> y (N, 0); beside it z = Relu(x) (N, 4).
    ``quantized``: the weight comes through a DequantizeLinear of an int8 initializer (Q/DQ)."""
    inits = [numpy_helper.from_array(np.zeros((0,), np.float32), "b")]
    if quantized:
        inits += [numpy_helper.from_array(np.zeros((0, 4), np.int8), "wq"),
                  numpy_helper.from_array(np.array(0.1, np.float32), "ws"),
                  numpy_helper.from_array(np.array(0, np.int8), "wz")]
        nodes = [helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], name="dq")]
    else:
        inits.append(numpy_helper.from_array(np.zeros((0, 4), np.float32), "w"))
        nodes = []
    nodes += [helper.make_node("Relu", ["x"], ["z"], name="relu"),
              helper.make_node("Gemm", ["z", "w", "b"], ["y"], name="head", transB=1)]
    graph = helper.make_graph(nodes, "empty_head",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 0]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 4])],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("quantized", [False, True], ids=["fp32", "qdq"])
def test_empty_gemm_becomes_an_empty_slice_with_the_same_outputs(quantized, tmp_path):
    import openvino as ov

    model = _empty_head_graph(quantized)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    before = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    assert replace_empty_gemms(model) == 1
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert "Gemm" not in ops and "DequantizeLinear" not in ops and "Slice" in ops
    left = {i.name for i in model.graph.initializer}
    assert not left & {"w", "wq", "ws", "wz", "b"}  # the head's weights are gone with it
    after = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    assert after[0].shape == before[0].shape == (3, 0)
    np.testing.assert_array_equal(after[1], before[1])
    assert replace_empty_gemms(model) == 0  # idempotent
    # OpenVINO reads the rewritten graph and gives the same (N, 0) and (N, 4) outputs
    path = tmp_path / "fixed.onnx"
    onnx.save(model, str(path))
    compiled = ov.Core().compile_model(read_ov_model(ov.Core(), path), "CPU")
    got = compiled({"x": x})
    assert got[compiled.outputs[0]].shape == (3, 0)
    np.testing.assert_allclose(got[compiled.outputs[1]], before[1], rtol=1e-6)


def test_openvino_reads_a_file_exported_before_the_rewrite(tmp_path):
    import openvino as ov

    path = tmp_path / "old.onnx"
    onnx.save(_empty_head_graph(False), str(path))
    model = read_ov_model(ov.Core(), path)  # rewritten in memory; the file is left as it was
    assert {o.get_any_name() for o in model.outputs} == {"y", "z"}
    assert any(n.op_type == "Gemm" for n in onnx.load(str(path)).graph.node)


def test_category_only_model_runs_on_openvino_like_onnx_runtime(real_photos, tmp_path):
    """A zoo model exported with 0 attributes: no empty Gemm in the file, and the OpenVINO
    Predictor agrees with ONNX Runtime on real photos."""
    import torch

    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model, get_model_class
    from edgefashion.runtime.preprocess import PreprocessConfig

    schema = LabelSchema.simple(sorted({p.parent.name for p in real_photos}))
    assert schema.num_attributes == 0
    torch.manual_seed(0)
    cfg = dict(get_model_class("msfan_lite").tiny_config)
    model = create_model("msfan_lite", schema.num_categories, 0, **cfg).eval()
    prep = PreprocessConfig(input_size=cfg["input_size"])
    path = tmp_path / "category_only.onnx"
    export_onnx(model, schema, prep, path, check_inputs=check_inputs_from_images(real_photos[:4], prep),
                real_images=True, self_test=False)
    graph = onnx.load(str(path)).graph
    inits = {i.name: i for i in graph.initializer}
    assert not [n for n in graph.node if n.op_type == "Gemm" and 0 in tuple(inits[n.input[1]].dims)]
    ov_pred, ort_pred = Predictor(path, backend="openvino"), Predictor(path)
    for photo in real_photos[:6]:
        a, b = ov_pred(photo), ort_pred(photo)
        assert a.category.label == b.category.label and a.attributes == b.attributes == {}
        np.testing.assert_allclose(a.category.score, b.category.score, atol=1e-3)
