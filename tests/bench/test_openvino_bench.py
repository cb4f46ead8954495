"""OpenVINO in the latency suite (variants, hint specs, a real run) and the merged machine facts."""
from __future__ import annotations

import json

import pytest

from edgefashion.bench.env import capture_environment, cpu_isa, machine_info, openvino_devices
from edgefashion.bench.report import validate_result
from edgefashion.bench.suite import run_suite
from edgefashion.bench.variants import Variant, parse_variants
from edgefashion.errors import BadInput


def test_parse_openvino_variants():
    got = parse_variants("ov,openvino:bf16,openvino-int8,openvino:int8+bf16,openvino:fp16", "m.onnx")
    assert got == [("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8"),
                   ("openvino", "int8+bf16"), ("openvino", "f16")]
    assert "openvino:int8+bf16" in ",".join(f"{b}:{p}" for b, p in parse_variants("all", "m.pt"))
    with pytest.raises(BadInput, match=r"unknown precision 'int4'.*bf16"):
        parse_variants("openvino:int4", "m.onnx")
    with pytest.raises(BadInput, match="unknown precision 'bf16'"):
        parse_variants("onnxruntime:bf16", "m.onnx")  # hints are OpenVINO's


def test_variant_spec_is_what_the_predictor_takes():
    assert Variant("openvino", "int8+bf16", "m.int8.onnx").spec == "openvino:bf16"
    assert Variant("openvino", "int8", "m.int8.onnx").spec == "openvino"
    assert Variant("onnxruntime", "int8", "m.int8.onnx").spec == "onnxruntime"


def test_isa_names_from_flags():
    flags = {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8"}
    assert cpu_isa(flags) == ["AVX2", "FMA", "AVX-512", "AVX-512 VNNI", "AVX-512 BF16", "AMX", "AMX-INT8"]
    assert cpu_isa(set()) == []


def test_machine_facts_record_isa_load_and_openvino():
    pytest.importorskip("openvino")
    env = machine_info()
    assert env["loadavg"] is None or len(env["loadavg"]) == 3
    assert isinstance(env["cpu_isa"], list) and env["versions"]["openvino"]
    devices = openvino_devices()
    assert devices and devices[0].startswith("CPU: ")
    assert capture_environment(probe_gpu=False, probe_jetson=False)["openvino_devices"] == devices


def test_suite_runs_openvino_variants_on_the_same_onnx(tiny_onnx, tmp_path):
    pytest.importorskip("openvino")
    res = run_suite(tiny_onnx, variants="onnxruntime,openvino,openvino:bf16,openvino:int8",
                    batches="1,2", warmup=1, iters=3, threads=1, workdir=tmp_path)
    validate_result(res)
    json.loads(json.dumps(res))
    ran = {(r["variant"], r["batch"]) for r in res["results"]}
    assert {("openvino-fp32", 1), ("openvino-bf16", 2), ("onnxruntime-fp32", 1)} <= ran
    assert all(r["device"] == "CPU" for r in res["results"] if r["backend"] == "openvino")
    # int8 needs calibration photos: skipped with the reason, not a crash
    assert any(s["variant"] == "openvino-int8" and "calibration" in s["reason"] for s in res["skipped"])
