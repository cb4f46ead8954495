"""int8 defaults follow the model: an EfficientNet-Lite backbone (msfan_lite) gets entropy ranges and
keeps its first two Lite stages and the attention gates in fp32 (benchmarks/int8_settings.py measured
why); other models keep MSFAN's minmax / first conv + heads. A category-only model's empty attribute
head (an empty Slice since runtime/empty_heads.py) is left out of calibration, so the histogram
methods work on it: percentile calibration crashed on it ("zero-size array to reduction operation")."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgefashion.runtime.empty_heads import replace_empty_gemms
from edgefashion.precision import quantize_onnx
from edgefashion.precision.graph import empty_nodes
from edgefashion.precision.quantize import LITE_INT8_DEFAULTS, int8_defaults

pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def lite_onnx(real_photos, tmp_path_factory):
    """A tiny msfan_lite over clothing-small's 10 categories and no attributes, exported."""
    import torch

    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model, get_model_class
    from edgefashion.runtime.preprocess import PreprocessConfig

    schema = LabelSchema.simple(sorted({p.parent.name for p in real_photos}))
    torch.manual_seed(0)
    cfg = dict(get_model_class("msfan_lite").tiny_config)
    model = create_model("msfan_lite", schema.num_categories, 0, **cfg).eval()
    prep = PreprocessConfig(input_size=cfg["input_size"])
    path = tmp_path_factory.mktemp("lite") / "lite.onnx"
    export_onnx(model, schema, prep, path, check_inputs=check_inputs_from_images(real_photos[:4], prep),
                real_images=True, self_test=False)
    return path


def _int8_weights(path) -> dict[str, bool]:
    """Conv node name -> True when its weight is int8 (comes through a DequantizeLinear)."""
    model = onnx.load(str(path))
    dq = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return {n.name: n.input[1] in dq for n in model.graph.node if n.op_type == "Conv"}


def _quantize(src, dst, photos, **kw):
    return quantize_onnx(src, dst, "int8", calib=[str(p) for p in photos[:10]], calib_size=10,
                         eval_images=[str(p) for p in photos[10:]], max_drop=None, calib_cache=None,
                         progress=False, **kw)


def test_a_lite_model_gets_the_lite_defaults(lite_onnx, real_photos, tmp_path):
    res = _quantize(lite_onnx, tmp_path / "d.int8.onnx", real_photos)
    assert res["defaults_for"] == "efficientnet_lite" and res["method"] == "entropy"
    assert res["keep_fp32"] == list(LITE_INT8_DEFAULTS["keep_fp32"])
    int8 = _int8_weights(res["output"])
    early = {k: v for k, v in int8.items() if "/blocks.0/" in k or "/blocks.1/" in k}
    late = {k: v for k, v in int8.items() if "/blocks.3/" in k or "/blocks.5/" in k}
    assert early and not any(early.values())   # the first two Lite stages stay fp32
    assert late and all(late.values())         # the rest of the backbone is int8
    gates = [v for k, v in int8.items() if "/gates." in k]
    assert gates and not any(gates)            # the attention gate convs stay fp32


def test_options_given_win_over_the_model_defaults(lite_onnx, real_photos, tmp_path):
    res = _quantize(lite_onnx, tmp_path / "o.int8.onnx", real_photos, method="minmax",
                    keep_fp32=["first-conv"])
    assert res["method"] == "minmax" and res["keep_fp32"] == ["first-conv"]
    early = [v for k, v in _int8_weights(res["output"]).items() if "/blocks.0/" in k or "/blocks.1/" in k]
    assert early and all(early)                # only the first conv was named: the Lite stages are int8


@pytest.mark.parametrize("method", ["percentile", "entropy", "minmax"])
def test_every_calibration_method_works_on_a_category_only_model(method, lite_onnx, real_photos,
                                                                 tmp_path):
    res = _quantize(lite_onnx, tmp_path / f"{method}.int8.onnx", real_photos, method=method)
    assert res["method"] == method
    assert res["accuracy"]["outputs"]["category_logits"]["cosine_mean"] > 0.9


def test_other_models_keep_the_msfan_defaults():
    assert int8_defaults({"model": "msfan", "model_config": {"backbone": "vgg16"}}) == {
        "keep_fp32": ("first-conv", "heads"), "method": "minmax", "for": "default"}
    assert int8_defaults({"model": "msfan_student",
                          "model_config": {"backbone": "efficientnet_lite1"}})["for"] == "efficientnet_lite"


def test_empty_nodes_finds_the_empty_slice_and_what_reads_it():
    """x -> Relu -> [empty Gemm | after the rewrite: empty Slice] -> Relu -> y (N, 0)."""
    inits = [numpy_helper.from_array(np.zeros((0, 4), np.float32), "w"),
             numpy_helper.from_array(np.zeros((0,), np.float32), "b")]
    nodes = [helper.make_node("Relu", ["x"], ["z"], name="relu"),
             helper.make_node("Gemm", ["z", "w", "b"], ["h"], name="head", transB=1),
             helper.make_node("Relu", ["h"], ["y"], name="after")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 0]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert empty_nodes(model.graph) == ["head", "after"]
    assert replace_empty_gemms(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Relu", "Slice", "Relu"]
    assert empty_nodes(model.graph) == ["head", "after"]
