"""Issue 12 (6): every zoo model's fp32 / fp16 / int8 ONNX against what TensorRT's ONNX parser accepts.

No TensorRT here: the exports are checked against ``edgefashion.engine.trt_onnx_rules`` (onnx-tensorrt's
published operator support per release, each rule with its source). A failure names the node and the
rule. The first test shows each rule firing on a small graph built to break it.
"""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgefashion.engine.trt_onnx_fixes import adapt_for_tensorrt  # noqa: E402
from edgefashion.engine.trt_onnx_rules import VERSIONS, check_onnx  # noqa: E402


def _qdq_conv_model(axis: int = 0, zero_point: int = 0, bias_dq: bool = False, opset: int = 13,
                    resize_mode: str = "linear"):
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.int8), "w_q")
    inits = [w, numpy_helper.from_array(np.full(4, 0.1, np.float32), "w_scale"),
             numpy_helper.from_array(np.zeros(4, np.int8) + np.int8(zero_point), "w_zp"),
             numpy_helper.from_array(np.array(0.05, np.float32), "x_scale"),
             numpy_helper.from_array(np.array(0, np.int8), "x_zp"),
             numpy_helper.from_array(np.array([1.0, 1.0, 2.0, 2.0], np.float32), "scales")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], name="q_x"),
             helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"], name="dq_x"),
             helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wd"], name="dq_w", axis=axis)]
    conv_inputs = ["xd", "wd"]
    if bias_dq:
        inits += [numpy_helper.from_array(np.ones(4, np.int32), "b_q"),
                  numpy_helper.from_array(np.full(4, 0.005, np.float32), "b_scale")]
        nodes.append(helper.make_node("DequantizeLinear", ["b_q", "b_scale"], ["bd"], name="dq_bias"))
        conv_inputs.append("bd")
    nodes += [helper.make_node("Conv", conv_inputs, ["y"], name="conv", kernel_shape=[3, 3]),
              helper.make_node("Resize", ["y", "", "scales"], ["z"], name="up", mode=resize_mode)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _rules(model, version):
    return {(v.node, v.rule.split("[")[0]) for v in check_onnx(model, version)}


def test_each_rule_names_the_node_it_breaks():
    assert all(check_onnx(_qdq_conv_model(), v) == [] for v in VERSIONS)  # the TensorRT layout passes
    assert ("dq_w", "QDQ_WEIGHT_AXIS") in _rules(_qdq_conv_model(axis=1), "10")
    assert ("dq_w", "QDQ_ZERO_POINT") in _rules(_qdq_conv_model(zero_point=3), "8.5")
    assert ("dq_bias", "DQ_INPUT_TYPES") in _rules(_qdq_conv_model(bias_dq=True), "11")
    assert ("<model>", "OPSET") in _rules(_qdq_conv_model(opset=19), "8.6")
    assert ("<model>", "OPSET") not in _rules(_qdq_conv_model(opset=19), "10")
    assert ("up", "RESIZE") in _rules(_qdq_conv_model(resize_mode="cubic"), "10")
    text = str(check_onnx(_qdq_conv_model(axis=1), "8.5")[0])
    assert "'dq_w'" in text and "QDQ_WEIGHT_AXIS" in text and "axis 1" in text


@pytest.fixture(scope="module")
def zoo_exports(real_photos, tmp_path_factory):
    """name -> {precision: ONNX path}: each zoo model's tiny export and its fp16 / int8 conversions, made the
    way tests/precision/test_zoo_precision.py makes them."""
    pytest.importorskip("torch")
    from utils import export_tiny_zoo_model

    from edgefashion.precision import quantize_onnx

    made = {}

    def get(name):
        if name not in made:
            folder = tmp_path_factory.mktemp(name)
            fp32 = export_tiny_zoo_model(name, real_photos, folder / "m.onnx")
            quantize_onnx(fp32, folder / "m.fp16.onnx", "fp16", eval_images=real_photos[:4], max_drop=None,
                          progress=False)
            quantize_onnx(fp32, folder / "m.int8.onnx", "int8", calib=real_photos[4:12],
                          eval_images=real_photos[:4], max_drop=None, progress=False, calib_cache=None)
            made[name] = {"fp32": fp32, "fp16": folder / "m.fp16.onnx", "int8": folder / "m.int8.onnx"}
        return made[name]

    return get


def _zoo():
    from edgefashion.models import list_models

    return list_models()


@pytest.mark.needs_data
@pytest.mark.slow
@pytest.mark.parametrize("name", _zoo())
def test_every_zoo_export_parses_on_every_targeted_tensorrt(name, zoo_exports, tmp_path):
    problems = []
    for precision, path in zoo_exports(name).items():
        for version in VERSIONS:  # what the build hands the parser of that version (trt_onnx_fixes)
            parsed = onnx.load(str(adapt_for_tensorrt(path, version, tmp_path)))
            problems += [f"{precision} on TensorRT {version}: {v}" for v in check_onnx(parsed, version)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("opset", [17, 18])
def test_layer_norm_is_decomposed_for_tensorrt_8_5_with_the_same_answers(opset, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=16).astype(np.float32), "gamma"),
             numpy_helper.from_array(rng.normal(size=16).astype(np.float32), "beta")]
    node = helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["y"], name="ln", axis=-1, epsilon=1e-5)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 5, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5, 16])], inits)
    src = tmp_path / "ln.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(src))
    assert "OPS[8.5]" in [v.rule for v in check_onnx(onnx.load(str(src)), "8.5")]
    assert adapt_for_tensorrt(src, "8.6", tmp_path) == src  # 8.6 parses LayerNormalization itself
    fixed = adapt_for_tensorrt(src, "8.5", tmp_path)
    assert fixed != src and not [v for v in check_onnx(onnx.load(str(fixed)), "8.5") if v.rule.startswith("OPS[")]
    x = rng.normal(size=(3, 5, 16)).astype(np.float32) * 4 + 1
    run = [ort.InferenceSession(str(f), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
           for f in (src, fixed)]
    np.testing.assert_allclose(run[1], run[0], rtol=1e-5, atol=1e-5)


def test_a_parse_failure_names_the_rule_the_node_breaks(tmp_path):
    from edgefashion.engine.parser_errors import ParserIssue, parser_error

    path = tmp_path / "m.onnx"
    onnx.save(_qdq_conv_model(axis=1), str(path))
    err = parser_error(path, [ParserIssue("UNSUPPORTED_NODE", "Assertion failed: axis", 2)], "8.6.1", False)
    assert "node 2 'dq_w' (op DequantizeLinear)" in str(err)  # TensorRT's own report, with the node's name
    assert "node 'dq_w' (DequantizeLinear) breaks QDQ_WEIGHT_AXIS" in str(err)  # and the rule behind it


def test_the_fused_op_export_needs_tensorrt_10(tmp_path):
    pytest.importorskip("torch")
    from engine_helpers import export_tiny_msfan

    model = onnx.load(str(export_tiny_msfan(tmp_path / "fused.onnx", custom_ops=True)))
    for version in ("8.5", "8.6"):
        rules = {v.rule for v in check_onnx(model, version)}
        assert rules == {"CUSTOM_DOMAINS"}, (version, rules)
    assert check_onnx(model, "10") == [] and check_onnx(model, "11") == []
