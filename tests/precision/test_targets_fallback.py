"""Gate targets (the runtimes a quantized file is checked on) and the accuracy-aware int8 fallback,
on the real small MSFAN and real photos, with ONNX Runtime and OpenVINO themselves."""
from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from edgefashion.errors import BackendUnavailable, BadInput
from edgefashion.precision import quantize_onnx
from edgefashion.precision import targets as tg
from edgefashion.precision.fallback import FallbackSettings, mac_counts, unit_of
from edgefashion.precision.gate import DEFAULT_OUTPUT_BOUNDS, AccuracyGateError, GateRules
from edgefashion.runtime.gated_targets import UngatedTargetWarning, check_gated
from edgefashion.runtime.metadata import read_onnx_metadata
from edgefashion.runtime.predictor import Predictor

needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                    reason="openvino is not installed (pip install openvino)")


def test_targets_parse_aliases_and_refuse_unknown_names():
    assert tg.parse_targets("ort, ov:bf16,onnxruntime") == ["onnxruntime", "openvino:bf16"]
    assert tg.parse_targets(["openvino:f32"]) == ["openvino"]
    assert tg.parse_targets(None) is None
    with pytest.raises(BadInput, match=r"unknown gate target 'coreml'; available: onnxruntime, openvino"):
        tg.parse_targets("onnxruntime,coreml")
    with pytest.raises(BadInput, match="names no target"):
        tg.parse_targets(" , ")


def test_a_target_that_is_not_installed_names_its_package():
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here: the missing-package error cannot be shown")
    with pytest.raises(BackendUnavailable, match="gate target 'tensorrt' needs tensorrt"):
        tg.require_installed(["onnxruntime", "tensorrt"])


@needs_openvino
def test_default_targets_follow_what_auto_picks():
    import platform

    assert tg.default_targets("fp32") == ["onnxruntime"]
    expected = ["openvino", "onnxruntime"] if platform.machine().lower() in ("x86_64", "amd64") \
        else ["onnxruntime"]
    assert tg.default_targets("int8") == expected


def test_weight_bits_follow_the_cpu_flags():
    avx2 = "flags : fpu sse4_2 avx avx2 fma"
    vnni = avx2 + " avx512f avx512_vnni"
    assert tg.cpu_lacks_vnni(avx2) and not tg.cpu_lacks_vnni(vnni)
    assert not tg.cpu_lacks_vnni(avx2 + " avx_vnni") and not tg.cpu_lacks_vnni("flags : neon")
    assert tg.default_weight_bits(["openvino", "onnxruntime"], avx2) == 7
    assert tg.default_weight_bits(["openvino"], vnni) == 8
    assert tg.default_weight_bits(["onnxruntime"], avx2) == 8  # ORT computes these layers in fp32


def test_units_and_macs_of_a_graph():
    assert unit_of("/model/blocks.2/blocks.2.0/conv_pw/Conv") == "/model/blocks.2/blocks.2.0"
    assert unit_of("/model/lateral.1/Conv") == "/model/lateral.1"
    assert unit_of("/model/conv_head/Conv") == "/model/conv_head"
    assert unit_of("/model/Add_3") == "/model"
    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    fc = numpy_helper.from_array(np.zeros((5, 8), np.float32), "fc")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="/c/Conv", pads=[1, 1, 1, 1]),
         helper.make_node("GlobalAveragePool", ["y"], ["p"], name="/gap"),
         helper.make_node("Flatten", ["p"], ["f"], name="/flat"),
         helper.make_node("Gemm", ["f", "fc"], ["z"], name="/fc/Gemm", transB=1)],
        "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [1, 5])], [w, fc])
    macs = mac_counts(helper.make_model(g))
    assert macs == {"/c/Conv": 8 * 16 * 16 * 3 * 3 * 3, "/fc/Gemm": 5 * 8}


def test_fallback_settings_refuse_a_budget_outside_0_1():
    with pytest.raises(BadInput, match="fallback budget 1.5"):
        FallbackSettings(budget=1.5)


# ---------------------------------------------------------------------------- on the real model
def _quantize(onnx_path, calib_photos, eval_photos, out, **kw):
    return quantize_onnx(onnx_path, out, "int8", calib=calib_photos, eval_images=eval_photos,
                         calib_cache=None, progress=False, threads=1, **kw)


@pytest.mark.needs_data
@needs_openvino
def test_a_target_that_fails_while_onnxruntime_passes_refuses_the_file(onnx_path, calib_photos,
                                                                      eval_photos, tmp_path):
    probe = _quantize(onnx_path, calib_photos, eval_photos, tmp_path / "probe.onnx",
                      targets="onnxruntime,openvino", max_drop=None, fallback=False)
    cos = {t: r["outputs"]["category_logits"]["cosine_mean"] for t, r in probe["target_reports"].items()}
    assert cos["onnxruntime"] != cos["openvino"]  # two runtimes, two sets of kernels
    worse, better = sorted(cos, key=cos.get)
    # a logits floor between the two: the better runtime passes, the worse one fails
    floor = (cos[worse] + cos[better]) / 2
    bounds = {**DEFAULT_OUTPUT_BOUNDS, "logits": (floor, 0.0, None)}
    out = tmp_path / "gated.onnx"
    with pytest.raises(AccuracyGateError, match=f"{worse}: category_logits cosine mean") as e:
        _quantize(onnx_path, calib_photos, eval_photos, out, targets="onnxruntime,openvino",
                  rules=GateRules(max_drop=100.0, min_agreement=0.0, bounds=bounds, max_top1_drop=None),
                  fallback=False)
    assert not out.exists()
    reports = e.value.report["target_reports"]
    assert reports[better]["gate"]["passed"] and not reports[worse]["gate"]["passed"]
    assert f"{better}: " not in str(e.value)


@pytest.mark.needs_data
@needs_openvino
def test_fallback_returns_units_in_ranked_order_within_its_budget(onnx_path, calib_photos, eval_photos,
                                                                 tmp_path):
    out = tmp_path / "fb.int8.onnx"
    strict = GateRules(max_drop=0.0, min_agreement=1.0)  # every image keeps its fp32 answer
    res = _quantize(onnx_path, calib_photos, eval_photos, out, targets="onnxruntime,openvino",
                    rules=strict, fallback=FallbackSettings(budget=1.0, rank_images=16))
    fb = res["fallback"]
    assert fb["passed"] and out.is_file() and fb["fp32_share"] <= 1.0
    effects = [r["effect"] for r in fb["ranking"]]
    assert effects == sorted(effects, reverse=True)
    order = [r["unit"] for r in fb["ranking"]]
    tried = [s["unit"] for s in fb["steps"]]
    assert tried == sorted(tried, key=order.index)  # tried in ranked order
    assert set(fb["returned"]) <= set(tried) and fb["steps"][-1]["passed"]
    assert all(t["passed"] for t in fb["steps"][-1]["targets"].values())
    for lat in fb["latency_ms"].values():
        assert lat["fp32"] > 0 and lat["int8"] > 0 and lat["fallback"] > 0
    # the trim: every MAC layer of the returned units tried back in int8, most MACs first; a layer
    # that kept every target passing left the fp32 set, one that broke a rule stayed in it
    trims = fb["trims"]
    assert trims and [t["mac_share"] for t in trims] == sorted((t["mac_share"] for t in trims), reverse=True)
    assert {t["node"] for t in trims if t["passed"]}.isdisjoint(fb["exclude"])
    assert {t["node"] for t in trims if not t["passed"]} <= set(fb["exclude"])
    for t in trims:
        assert t["passed"] == all(r["passed"] for r in t["targets"].values())
        assert t["fp32_share"] == pytest.approx(t["fp32_share_before"] - (t["mac_share"] if t["passed"] else 0))
    assert fb["fp32_share"] == pytest.approx(fb["fp32_share_untrimmed"] - sum(t["mac_share"] for t in trims
                                                                              if t["passed"]))
    meta = read_onnx_metadata(out)
    assert [t["target"] for t in meta["precision"]["targets"]] == ["onnxruntime", "openvino"]
    assert set(meta["precision"]["fp32_nodes"]) == set(fb["exclude"])  # the file is the trimmed one
    # a budget with no room left refuses, with the record, and writes nothing
    none_left = tmp_path / "none.int8.onnx"
    budget = fb["fp32_share_before"]
    with pytest.raises(AccuracyGateError, match=r"The fallback returned \d+ unit\(s\) to fp32") as e:
        _quantize(onnx_path, calib_photos, eval_photos, none_left, targets="onnxruntime,openvino",
                  rules=strict, fallback=FallbackSettings(budget=budget))
    spent = e.value.report["fallback"]
    assert not none_left.exists() and not spent["passed"] and spent["fp32_share"] <= budget + 1e-9
    with pytest.raises(AccuracyGateError) as e:
        _quantize(onnx_path, calib_photos, eval_photos, none_left, targets="onnxruntime",
                  rules=strict, fallback=False)
    assert e.value.report["fallback"] is None and "fallback" not in str(e.value)


@pytest.mark.needs_data
@needs_openvino
def test_predictor_warns_once_on_a_target_the_gate_did_not_run(onnx_path, calib_photos, eval_photos,
                                                              tmp_path):
    out = tmp_path / "ort_only.int8.onnx"
    _quantize(onnx_path, calib_photos, eval_photos, out, targets="onnxruntime", max_drop=None)
    assert [t["target"] for t in read_onnx_metadata(out)["precision"]["targets"]] == ["onnxruntime"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UngatedTargetWarning)
        Predictor(out, backend="onnxruntime")  # gated there: silent
    with pytest.warns(UngatedTargetWarning, match="gate ran on onnxruntime, not on openvino:bf16"):
        p = Predictor(out, backend="openvino:bf16")
    assert check_gated(p.metadata, p.backend) is None  # once per file and target


@pytest.mark.needs_data
def test_seven_bit_weights_stay_within_plus_minus_64(onnx_path, calib_photos, eval_photos, tmp_path):
    res = _quantize(onnx_path, calib_photos, eval_photos, tmp_path / "w7.onnx", targets="onnxruntime",
                    max_drop=None, weight_bits=7)
    assert res["weight_bits"] == 7
    model = onnx.load(res["output"])
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    weights = [inits[n.input[0]] for n in model.graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].ndim == 4]
    # ORT's reduce_range: [-64, 64], so a pair of u8 x s8 products stays below 2^15 (no saturation)
    assert weights and all(w.dtype == np.int8 and np.abs(w.astype(int)).max() <= 64 for w in weights)
    assert max(np.abs(w.astype(int)).max() for w in weights) > 32  # the range is used, not 4-bit
    with pytest.raises(BadInput, match="weight_bits 6"):
        _quantize(onnx_path, calib_photos, eval_photos, tmp_path / "w6.onnx", targets="onnxruntime",
                  weight_bits=6)


def _report(agreement: float, gate3_max_abs: float, limit: float = 0.5) -> dict:
    rules = [{"rule": "category top-1 agreement", "value": agreement, "limit": 0.99,
              "passed": agreement >= 0.99},
             {"rule": "gate3 max-abs", "value": gate3_max_abs, "limit": limit,
              "passed": gate3_max_abs <= limit}]
    return {"category": {"top1_agreement": agreement},
            "outputs": {"category_logits": {"cosine_mean": 0.999}, "gate3": {"cosine_mean": 0.99}},
            "gate": {"rules": rules, "failed": [r["rule"] for r in rules if not r["passed"]],
                     "passed": all(r["passed"] for r in rules)}}


def test_the_fallback_follows_a_failing_map_rule_not_only_the_logits():
    """A candidate that agrees on every answer but breaks a gate map's max-abs: the ranking measures
    that map, and a step that brings it closer to its limit scores higher (and is kept)."""
    from edgefashion.precision.fallback import drift, failing_maps, gate_score

    failing = {"ort": _report(0.995, 0.66)}
    assert failing_maps(failing) == {"gate3": 0.5}
    assert failing_maps({"ort": _report(0.995, 0.3)}) == {}
    assert gate_score({"ort": _report(0.995, 0.55)}) > gate_score(failing)
    assert gate_score({"ort": _report(0.995, 0.3)}) > gate_score({"ort": _report(0.995, 0.55)})
    rng = np.random.default_rng(0)
    ref = {"category_logits": rng.standard_normal((8, 4)), "gate3": rng.random((8, 1, 4, 4))}
    near = {"category_logits": ref["category_logits"], "gate3": ref["gate3"] + 0.05}
    far = {"category_logits": ref["category_logits"], "gate3": ref["gate3"] + 0.4}
    assert drift(ref, far) == pytest.approx(drift(ref, near))      # logits alone cannot tell them apart
    assert drift(ref, far, {"gate3": 0.5}) > drift(ref, near, {"gate3": 0.5}) + 0.6


def _chain(tmp_path, widths=(4, 8, 16)):
    """Three conv units /b.0 -> /b.1 -> /b.2, each with more MACs than the one before."""
    nodes, inits, c, x = [], [], 3, "x"
    for i, w in enumerate(widths):
        inits.append(numpy_helper.from_array(np.zeros((w, c, 3, 3), np.float32), f"w{i}"))
        nodes.append(helper.make_node("Conv", [x, f"w{i}"], [f"y{i}"], name=f"/b.{i}/Conv", pads=[1, 1, 1, 1]))
        c, x = w, f"y{i}"
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, [1, c, 8, 8])], inits)
    path = tmp_path / "chain.onnx"
    onnx.save(helper.make_model(g), str(path))
    return path


def test_off_a_plateau_every_other_unit_at_once_then_the_trim(tmp_path):
    """No single unit helps (the answers flip unless /b.0 and /b.1 are both fp32): the ranked steps
    cannot pass, the step that returns every other unit at once does when the budget allows, and the
    trim then puts back the one layer the gate does not need. With a budget too small for that step
    the fallback refuses, as before."""
    import json

    from edgefashion.precision.fallback import run_fallback

    needed = {"/b.0/Conv", "/b.1/Conv"}

    def build(exclude, path):
        path.write_text(json.dumps(sorted(exclude)))

    def judge(path):
        ok = needed <= set(json.loads(path.read_text()))
        rep = _report(1.0 if ok else 0.95, 0.1)
        rep["category"]["delta_points"] = {"top1": 0.0 if ok else -5.0, "top3": 0.0}
        return {"ort": rep, "ov": rep}

    pre = _chain(tmp_path)
    # the drift never moves (a plateau): no unit has an effect, so no ranked step is tried
    record = run_fallback(pre, [], FallbackSettings(budget=1.0), build, judge, lambda path: 1.0,
                          tmp_path, lambda m: None)
    assert record["passed"] and record["steps"][-1]["unit"] == "all 3 other units"
    assert record["fp32_share_untrimmed"] == pytest.approx(1.0)
    assert [t["node"] for t in record["trims"]] == ["/b.2/Conv", "/b.1/Conv", "/b.0/Conv"]  # most MACs first
    assert [t["passed"] for t in record["trims"]] == [True, False, False]
    assert set(record["exclude"]) == needed
    assert set(json.loads((tmp_path / "fallback.onnx").read_text())) == needed  # the file is the trimmed one
    small = run_fallback(pre, [], FallbackSettings(budget=0.5), build, judge, lambda path: 1.0,
                         tmp_path, lambda m: None)
    assert not small["passed"] and small["trims"] == []
    assert not any(s["unit"].startswith("all ") for s in small["steps"])
