"""Calibrated fp16 rounding (precision/fp16_rounding.py): fp16-exact weights, the sensitive ops still in
fp32, and a smaller drift from fp32 than round-to-nearest on real photos."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from edgefashion.errors import BadInput
from edgefashion.precision.fp16_rounding import round_rows

pytestmark = pytest.mark.needs_data


def test_round_rows_gives_fp16_values_with_less_output_error():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 1.0, (4000, 64))  # inputs with a mean: the coherent error of nearest rounding
    w, b = rng.normal(0, 1, (8, 64)), rng.normal(0, 3, 8)
    second, mean = x.T @ x / len(x), x.mean(0)
    r, br = round_rows(w, b, second, mean)
    assert np.array_equal(r, r.astype(np.float16).astype(np.float64))
    assert np.array_equal(br, br.astype(np.float16).astype(np.float64))
    nearest = w.astype(np.float16).astype(np.float64), b.astype(np.float16).astype(np.float64)
    err = lambda wq, bq: np.mean((x @ (wq - w).T + (bq - b)) ** 2)  # noqa: E731
    assert err(r, br) < 0.8 * err(*nearest)


@pytest.fixture(scope="module")
def calibrated(onnx_path, calib_photos, eval_photos, model_dir) -> dict:
    from edgefashion.precision import quantize_onnx

    return quantize_onnx(onnx_path, model_dir / "msfan.cal.fp16.onnx", "fp16", calib=calib_photos,
                         eval_images=eval_photos, progress=False, max_drop=None)


def test_calibrated_fp16_keeps_sensitive_ops_in_fp32(calibrated, fp16_result):
    assert calibrated["rounding"] == "calibrated" and calibrated["calibrated_nodes"] > 10
    model = onnx.load(calibrated["output"])
    types = {v.name: v.type.tensor_type.elem_type for v in
             [*onnx.shape_inference.infer_shapes(model).graph.value_info, *model.graph.input]}
    sensitive = [n for n in model.graph.node if n.op_type in ("ReduceMean", "ReduceMax", "Sigmoid")]
    assert len(sensitive) == 16
    for node in sensitive:
        assert types[node.input[0]] == TensorProto.FLOAT, node.name
    assert calibrated["fp32_nodes"] == fp16_result["fp32_nodes"]
    inits = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv" and n.input[1] in inits]
    assert sum(inits[n.input[1]].data_type == TensorProto.FLOAT16 for n in convs) >= len(convs) - 4
    for n in model.graph.node:  # the kept-fp32 Gemms keep their exact fp32 weights
        if n.op_type == "Gemm" and n.name in calibrated["fp32_nodes"] and n.input[1] in inits:
            assert inits[n.input[1]].data_type == TensorProto.FLOAT


def test_calibrated_fp16_drifts_less_than_nearest(calibrated, fp16_result):
    new, old = (r["accuracy"]["outputs"]["category_logits"] for r in (calibrated, fp16_result))
    assert new["mean_abs"] < old["mean_abs"]
    assert calibrated["accuracy"]["category"]["top1_agreement"] >= 0.95
    assert calibrated["self_test"]["passed"]


def test_calibrated_rounding_without_images_is_an_error(onnx_path, model_dir):
    from edgefashion.precision import quantize_onnx

    with pytest.raises(BadInput, match="calibration images"):
        quantize_onnx(onnx_path, model_dir / "x.fp16.onnx", "fp16", fp16_rounding="calibrated",
                      progress=False)


def test_nearest_rounding_leaves_weights_alone(onnx_path, calib_photos, eval_photos, model_dir):
    from edgefashion.precision import quantize_onnx

    r = quantize_onnx(onnx_path, model_dir / "n.fp16.onnx", "fp16", calib=calib_photos,
                      eval_images=eval_photos, fp16_rounding="nearest", progress=False, max_drop=None)
    assert r["rounding"] == "nearest" and r["calibrated_nodes"] == 0
    src = {i.name: numpy_helper.to_array(i) for i in onnx.load(onnx_path).graph.initializer}
    out = onnx.load(r["output"])
    conv = next(n for n in out.graph.node if n.op_type == "Conv" and n.input[1] in src)
    w = next(numpy_helper.to_array(i) for i in out.graph.initializer if i.name == conv.input[1])
    assert np.array_equal(w, src[conv.input[1]].astype(np.float16))


def test_cli_fp16_rounding_flag(onnx_path, calib_photos, tmp_path, capsys):
    from edgefashion.cli.main import main

    out = tmp_path / "cli.fp16.onnx"
    assert main(["quantize", str(onnx_path), "--precision", "fp16", "--fp16-rounding", "calibrated",
                 "-o", str(out)]) == 2
    assert "needs calibration images" in capsys.readouterr().err and not out.exists()
    calib = tmp_path / "calib.txt"
    calib.write_text("\n".join(str(p) for p in calib_photos[:8]))
    assert main(["quantize", str(onnx_path), "--precision", "fp16", "--fp16-rounding", "calibrated",
                 "--calib", str(calib), "--no-gate", "--quiet", "--json", "-o", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rounding"] == "calibrated" and result["calibrated_nodes"] > 10 and out.exists()
    assert "32 of them chose the fp16 rounding" in result["eval"]["source"]
