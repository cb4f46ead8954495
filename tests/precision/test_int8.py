"""int8 Q/DQ ONNX calibrated on real photos: graph form, agreement, cache, presets, the gate."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from edgefashion.precision import quantize_onnx
from edgefashion.precision.gate import AccuracyGateError
from edgefashion.runtime.metadata import read_onnx_metadata
from edgefashion.runtime.predictor import Predictor
from edgefashion.runtime.selftest import run_self_test

pytestmark = pytest.mark.needs_data


def _weight_sources(model: onnx.ModelProto) -> dict[str, str]:
    """Conv / Gemm node name -> "int8" when its weight comes through a DequantizeLinear, else "fp32"."""
    dq = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return {n.name: "int8" if n.input[1] in dq else "fp32"
            for n in model.graph.node if n.op_type in ("Conv", "Gemm")}


def test_int8_is_symmetric_per_channel_qdq(int8_result):
    model = onnx.load(int8_result["output"])
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    per_channel = 0
    assert all(numpy_helper.to_array(i).dtype != np.int32 for i in model.graph.initializer)  # fp32 bias
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            zp = inits[node.input[2]]
            assert zp.dtype == np.int8 and not zp.any(), node.name  # symmetric: zero point 0
            per_channel += inits[node.input[1]].size > 1
    assert per_channel >= 10  # conv weights: one scale per output channel
    src = _weight_sources(model)
    assert src["/model/features.0/Conv"] == "fp32"                      # preset first-conv
    assert all(v == "fp32" for k, v in src.items() if "_head" in k)     # preset heads
    assert sum(v == "int8" for v in src.values()) >= 15
    assert int8_result["keep_fp32"] == ["first-conv", "heads"]


def test_int8_agreement_on_real_photos(int8_result, onnx_path, eval_photos):
    acc = int8_result["accuracy"]
    assert int8_result["calibration"]["images"] == 20 and acc["num_images"] == 30
    assert int8_result["eval"]["source"] == "given evaluation images"
    # a random-weight 8-channel net is far harder to quantize than a trained one (the clothing MSFAN
    # agrees on 99.7 %); this checks that the pipeline is right, not the target
    assert acc["category"]["top1_agreement"] >= 0.8
    assert acc["outputs"]["category_logits"]["cosine_mean"] > 0.9
    assert acc["outputs"]["gate1"]["cosine_mean"] > 0.99
    meta = read_onnx_metadata(int8_result["output"])
    assert meta["precision"]["method"] == "minmax"
    assert meta["precision"]["accuracy"]["category"]["top1_agreement"] == acc["category"]["top1_agreement"]
    p = Predictor(int8_result["output"], threads=1)
    preds = p(eval_photos[:4])
    assert all(r.ok if hasattr(r, "ok") else r.error is None for r in preds)
    assert run_self_test(p)["passed"]


def test_default_eval_is_held_out_then_the_calibration_set(onnx_path, calib_photos, tmp_path):
    # which images evaluate is the point here, not the gate (whose verdict on this tiny
    # LSUV-scaled model depends on the CPU's int8 kernels)
    held = quantize_onnx(onnx_path, tmp_path / "a.onnx", "int8", calib=calib_photos, calib_size=12,
                         progress=False, calib_cache=None, max_drop=None)
    assert held["calibration"]["images"] == 12 and held["eval"]["num_images"] == 8
    assert held["eval"]["source"].startswith("held-out")
    same = quantize_onnx(onnx_path, tmp_path / "b.onnx", "int8", calib=calib_photos[:6],
                         progress=False, calib_cache=None, max_drop=None)
    assert same["eval"]["num_images"] == 6 and "optimistic" in same["eval"]["source"]


def test_calibration_cache_is_reused_and_invalidated(onnx_path, calib_photos, eval_photos, tmp_path):
    cache = tmp_path / "calib.json"
    kw = {"calib": calib_photos[:8], "eval_images": eval_photos[:4], "calib_cache": cache,
          "progress": False, "max_drop": None}
    first = quantize_onnx(onnx_path, tmp_path / "1.onnx", "int8", **kw)
    again = quantize_onnx(onnx_path, tmp_path / "2.onnx", "int8", **kw)
    assert not first["calibration"]["cache_hit"] and again["calibration"]["cache_hit"]
    graphs = [onnx.load(str(tmp_path / f"{i}.onnx")).graph.SerializeToString() for i in (1, 2)]
    assert graphs[0] == graphs[1]                          # same ranges, same int8 model

    other = quantize_onnx(onnx_path, tmp_path / "3.onnx", "int8", **{**kw, "calib": calib_photos[8:16]})
    assert not other["calibration"]["cache_hit"]          # other images: recomputed
    method = quantize_onnx(onnx_path, tmp_path / "4.onnx", "int8", method="percentile", **kw)
    assert not method["calibration"]["cache_hit"]         # other method: recomputed

    m = onnx.load(str(onnx_path))                          # other preprocessing (same weights)
    meta = json.loads(m.metadata_props[0].value)
    meta["preprocess"]["mean"] = [0.5, 0.5, 0.5]
    m.metadata_props[0].value = json.dumps(meta)
    onnx.save(m, str(tmp_path / "prep.onnx"))
    prep = quantize_onnx(tmp_path / "prep.onnx", tmp_path / "5.onnx", "int8", **kw)
    assert not prep["calibration"]["cache_hit"]

    m = onnx.load(str(onnx_path))                          # other weights (same preprocessing)
    w = m.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * 1.01, w.name))
    onnx.save(m, str(tmp_path / "weights.onnx"))
    weights = quantize_onnx(tmp_path / "weights.onnx", tmp_path / "6.onnx", "int8", **kw)
    assert not weights["calibration"]["cache_hit"]
    back = quantize_onnx(tmp_path / "weights.onnx", tmp_path / "7.onnx", "int8", **kw)
    assert back["calibration"]["cache_hit"]               # the cache now holds that model's ranges


def test_cache_key_depends_on_preprocessing(onnx_path, tmp_path, prep_cfg):
    from dataclasses import replace

    from edgefashion.precision import calibration as cal

    a = cal.cache_key_parts(onnx_path, prep_cfg, "minmax")
    b = cal.cache_key_parts(onnx_path, replace(prep_cfg, resize="letterbox"), "minmax")
    assert cal.cache_key(a) != cal.cache_key(b)
    path = cal.write_cache(tmp_path / "c.json", cal.cache_key(a), a, "onnxruntime", {"x": 1}, "img1")
    assert cal.read_cache(path, cal.cache_key(a), "onnxruntime", "img1") == {"x": 1}
    assert cal.read_cache(path, cal.cache_key(b), "onnxruntime", "img1") is None
    assert cal.read_cache(path, cal.cache_key(a), "onnxruntime", "img2") is None
    assert cal.read_cache(path, cal.cache_key(a), "tensorrt") is None
    cal.write_cache(path, cal.cache_key(a), a, "tensorrt", {"y": 2}, "img1")   # sections coexist
    assert cal.read_cache(path, cal.cache_key(a), "onnxruntime") == {"x": 1}


def test_keep_fp32_presets_and_patterns(onnx_path, calib_photos, tmp_path):
    res = quantize_onnx(onnx_path, tmp_path / "g.onnx", "int8", calib=calib_photos[:8],
                        keep_fp32=["gates", "op:Gemm"], progress=False, max_drop=None)
    src = _weight_sources(onnx.load(res["output"]))
    assert all(src[f"/model/gates.{i}/Conv"] == "fp32" for i in range(1, 5))
    assert all(v == "fp32" for k, v in src.items() if "Gemm" in k)
    assert src["/model/features.0/Conv"] == "int8"        # not asked for this time
    assert "/model/channel_att.1/Sigmoid" in res["fp32_nodes"]


def test_gate_failure_keeps_the_old_file(onnx_path, calib_photos, eval_photos, tmp_path):
    flat = tmp_path / "flat"                               # no category folders: reference top-1 labels
    flat.mkdir()
    for p in eval_photos[::3]:
        shutil.copy(p, flat / f"{p.parent.name}_{p.name}")
    cache = tmp_path / "calib.json"
    kw = {"calib": calib_photos[:8], "eval_images": flat, "calib_cache": cache, "progress": False}
    quantize_onnx(onnx_path, tmp_path / "warm.onnx", "int8", max_drop=None, **kw)
    data = json.loads(cache.read_text())                   # ruin the ranges: everything clips
    for rng in data["sections"]["onnxruntime"]["data"].values():
        for end in ("lowest", "highest"):
            rng[end]["data"] = [v * 1e-3 for v in rng[end]["data"]]
    cache.write_text(json.dumps(data))
    out = tmp_path / "model.int8.onnx"
    out.write_bytes(b"the old engine")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(AccuracyGateError, match="category top-3 drop.*nothing was written") as e:
        quantize_onnx(onnx_path, out, "int8", max_drop=0.5, fallback=False, **kw)  # the refusal
    assert e.value.report["gate"]["drop_points"] > 0.5
    assert "reference top-1" in e.value.report["gate"]["basis"]
    assert out.read_bytes() == b"the old engine"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no report, no temp folder


def test_bad_calibration_images_fail_the_gate_and_write_nothing(onnx_path, eval_photos, tmp_path):
    import cv2

    flat = tmp_path / "flat"            # real image files, useless calibration data: the mean colour,
    flat.mkdir()                        # which preprocesses to ~0, so every range comes out ~0
    for i in range(2):
        cv2.imwrite(str(flat / f"{i}.png"), np.full((80, 80, 3), (104, 116, 124), np.uint8))
    evals = tmp_path / "evals"                             # no category folders: reference top-1 labels
    evals.mkdir()
    for p in eval_photos[::3]:
        shutil.copy(p, evals / f"{p.parent.name}_{p.name}")
    out = tmp_path / "out" / "model.int8.onnx"
    with pytest.raises(AccuracyGateError):
        quantize_onnx(onnx_path, out, "int8", calib=flat, eval_images=evals, progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []  # no model, report or cache
