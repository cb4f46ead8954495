"""The latency suite on a tiny real ONNX model: stage split, overhead, JSON schema, skips."""
from __future__ import annotations

import json

import pytest

from edgefashion.bench.inputs import load_inputs
from edgefashion.bench.latency import STAGES, bench_predictor
from edgefashion.bench.report import validate_result
from edgefashion.bench.suite import parse_batches, run_suite
from edgefashion.bench.variants import open_predictor, parse_variants
from edgefashion.errors import BadInput, SchemaError


@pytest.fixture(scope="module")
def predictor(tiny_onnx):
    return open_predictor(tiny_onnx, "onnxruntime", threads=1)


@pytest.mark.parametrize("mode", ["bytes", "array"])
def test_stage_split_sums_to_end_to_end(predictor, mode):
    inputs, _ = load_inputs([], mode)  # one synthetic photo
    r = bench_predictor(predictor, inputs, batch=3, warmup=1, iters=4)
    assert r["batch"] == 3 and r["latency_ms"]["n"] == 4 and r["raw_inference_ms"]["n"] == 4
    parts = sum(r["stages_ms"][k]["mean"] for k in STAGES)
    assert parts == pytest.approx(r["latency_ms"]["mean"], rel=1e-9)
    assert all(r["stages_ms"][k]["min"] >= 0 for k in STAGES)
    assert sum(r["stage_share"].values()) == pytest.approx(1.0)
    ov = r["overhead"]
    assert 0 < ov["pre_post_python_fraction"] < 1
    assert ov["pre_post_python_ms"] == pytest.approx(parts - r["stages_ms"]["inference"]["mean"])
    assert r["throughput_ips"] == pytest.approx(3 * 4 / (sum(r["samples_ms"]["e2e"]) / 1e3), rel=1e-3)
    assert len(r["samples_ms"]["raw"]) == 4
    assert r["memory"]["rss_peak_mib"] > 0


def test_real_photos_as_paths(predictor, photos):
    inputs, desc = load_inputs(photos, "path")
    r = bench_predictor(predictor, inputs, batch=2, warmup=0, iters=2)
    assert "real images" in desc and r["latency_ms"]["n"] == 2
    assert r["stages_ms"]["preprocess"]["mean"] > 0


def test_suite_result_schema_and_skips(tiny_onnx, tmp_path):
    res = run_suite(tiny_onnx, variants="onnxruntime,pytorch,tensorrt:fp16", batches="1,2", warmup=1,
                    iters=3, threads=1, workdir=tmp_path)
    validate_result(res)
    json.loads(json.dumps(res))
    assert [(r["variant"], r["batch"]) for r in res["results"]] == [("onnxruntime-fp32", 1),
                                                                     ("onnxruntime-fp32", 2)]
    skipped = {s["variant"]: s["reason"] for s in res["skipped"]}
    assert "checkpoint" in skipped["pytorch-fp32"]  # PyTorch eager needs the .pt
    assert skipped["tensorrt-fp16"]
    assert res["model"]["name"] == "msfan" and res["settings"]["batches"] == [1, 2]


def test_suite_from_checkpoint_exports_onnx(tiny_ckpt, tmp_path):
    res = run_suite(tiny_ckpt, variants="pytorch,onnxruntime", batches=(1,), warmup=0, iters=2,
                    threads=1, workdir=tmp_path)
    validate_result(res)
    assert {r["variant"] for r in res["results"]} == {"pytorch-fp32", "onnxruntime-fp32"}
    exported = [v for v in res["variants"] if v["source"] == "exported"]
    assert exported and (tmp_path / "tiny.onnx").is_file()


def test_validate_result_names_the_problem(tiny_onnx, tmp_path):
    res = run_suite(tiny_onnx, variants="onnxruntime", batches=(1,), warmup=0, iters=2, workdir=tmp_path)
    bad = json.loads(json.dumps(res))
    del bad["results"][0]["stages_ms"]
    with pytest.raises(SchemaError, match="stages_ms"):
        validate_result(bad)
    bad = json.loads(json.dumps(res))
    bad["results"][0]["latency_ms"]["p50"] = 1e9
    with pytest.raises(SchemaError, match="not ordered"):
        validate_result(bad)


def test_variant_names():
    assert parse_variants("onnxruntime,ort:int8,trt-fp16,torch", "m.pt") == [
        ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("tensorrt", "fp16"), ("pytorch", "fp32")]
    assert parse_variants(None, "m.pt") == [("pytorch", "fp32"), ("onnxruntime", "fp32")]
    assert parse_variants("auto", "m.engine") == [("tensorrt", "fp32")]
    assert len(parse_variants("all", "m.onnx")) == 10  # 6 + openvino fp32 / bf16 / int8 / int8+bf16
    with pytest.raises(BadInput, match="unknown backend"):
        parse_variants("tflite", "m.onnx")
    with pytest.raises(BadInput, match="precision"):
        parse_variants("onnxruntime:int4", "m.onnx")


def test_batch_parsing():
    assert parse_batches("1,8,32") == [1, 8, 32]
    for bad in ("0", "a,b", ""):
        with pytest.raises(BadInput):
            parse_batches(bad)


@pytest.mark.needs_data
def test_quantized_variants_run_or_say_why(tiny_onnx, photos, tmp_path):
    """fp16 / int8 ONNX come from edgefashion.precision and both run."""
    res = run_suite(tiny_onnx, variants="onnxruntime:fp16,onnxruntime:int8", batches=(1,), warmup=0,
                    iters=2, threads=1, images=photos, calib=photos, workdir=tmp_path)
    validate_result(res)
    ran = {r["variant"] for r in res["results"]}
    skipped = {s["variant"]: s["reason"] for s in res["skipped"]}
    assert ran | set(skipped) == {"onnxruntime-fp16", "onnxruntime-int8"}
    # edgefashion.precision is part of the package: both must run (a skip here would hide a failure)
    assert ran == {"onnxruntime-fp16", "onnxruntime-int8"}, skipped
    assert (tmp_path / "tiny.int8.onnx").is_file()
