"""Self-test at load: reference inputs + fp32 answers in the metadata; drift raises SelfTestError."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgefashion.errors import SelfTestError
from edgefashion.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgefashion.runtime.metadata import read_onnx_metadata
from edgefashion.runtime.predictor import Predictor
from edgefashion.runtime.selftest import (
    add_reference_set,
    decode_array,
    encode_array,
    fit_tolerance,
    run_self_test,
)

pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def with_ref(onnx_path, eval_photos, tmp_path_factory):
    path = tmp_path_factory.mktemp("selftest") / "ref.onnx"
    shutil.copy(onnx_path, path)
    add_reference_set(path, images=eval_photos[::7])
    return path


def _tamper(src, dst, fn) -> None:
    """Apply ``fn(name, array) -> array | None`` to the initializers; keep the metadata."""
    m = onnx.load(str(src))
    for init in m.graph.initializer:
        new = fn(init.name, numpy_helper.to_array(init))
        if new is not None:
            init.CopyFrom(numpy_helper.from_array(new.astype(numpy_helper.to_array(init).dtype), init.name))
    onnx.save(m, str(dst))


def test_reference_set_is_small_and_passes_on_every_backend(with_ref, ckpt_path):
    meta = read_onnx_metadata(with_ref)
    ref = meta["self_test"]
    assert ref["source"] == "images" and len(ref["images"]) == 4 and ref["input_size"] == 64
    assert set(ref["outputs"]) >= {"category_logits", "attribute_logits", "gate1", "gate4"}
    assert len(json.dumps(ref)) < 60_000
    report = run_self_test(OnnxRuntimeBackend(with_ref, threads=1))
    assert report["passed"] and report["precision"] == "fp32" and report["top1"]["agreement"] == 1.0
    assert report["outputs"]["category_logits"]["cosine_min"] > 0.99999
    assert run_self_test(Predictor(with_ref, threads=1))["passed"]
    # the checkpoint the ONNX was exported from answers the same (PyTorch eager vs ORT)
    assert run_self_test(Predictor(ckpt_path), metadata=meta)["passed"]


def test_perturbed_weights_fail(with_ref, tmp_path):
    rng = np.random.default_rng(0)
    bad = tmp_path / "noisy.onnx"
    _tamper(with_ref, bad, lambda n, a: a + 0.3 * a.std() * rng.standard_normal(a.shape)
            if a.ndim == 4 else None)                          # every conv weight, 30 % noise
    with pytest.raises(SelfTestError, match=r"self-test failed for .*noisy\.onnx \(fp32\)"):
        run_self_test(OnnxRuntimeBackend(bad, threads=1))
    report = run_self_test(Predictor(bad, threads=1), raise_on_fail=False)
    assert not report["passed"] and report["failures"]


def test_a_swapped_head_fails_on_the_answer(with_ref, tmp_path):
    m = onnx.load(str(with_ref))
    head = next(n for n in m.graph.node if n.output[0] == "category_logits")
    bad = tmp_path / "swapped.onnx"
    _tamper(with_ref, bad, lambda n, a: -a if n in head.input[1:] else None)  # logits negated
    report = run_self_test(OnnxRuntimeBackend(bad, threads=1), raise_on_fail=False)
    assert not report["passed"]
    assert any("top-1 category changed" in f for f in report["failures"])
    assert any("category_logits cosine" in f for f in report["failures"])


def test_quantized_artifacts_carry_a_fitted_tolerance(int8_result, fp16_result, tmp_path):
    meta = read_onnx_metadata(int8_result["output"])
    tol = meta["self_test"]["tolerance"]["int8"]
    assert 0.5 <= tol["cosine"] <= 0.95 and tol["margin"] >= 0.15
    assert meta["self_test"]["reference_precision"] == "fp32"
    bad = tmp_path / "int8_swapped.onnx"
    m = onnx.load(int8_result["output"])
    head = next(n for n in m.graph.node if n.output[0] == "category_logits")  # kept fp32 (heads)
    _tamper(int8_result["output"], bad, lambda n, a: -a if n in head.input[1:] else None)
    with pytest.raises(SelfTestError, match=r"\(int8\)"):
        run_self_test(OnnxRuntimeBackend(bad, threads=1))
    assert read_onnx_metadata(fp16_result["output"])["self_test"]["tolerance"]["fp16"]["cosine"] == 0.995


def test_missing_reference_and_noise_reference(onnx_path, tmp_path):
    with pytest.raises(SelfTestError, match="carries no self-test reference set"):
        run_self_test(OnnxRuntimeBackend(onnx_path, threads=1))
    path = tmp_path / "noise.onnx"
    shutil.copy(onnx_path, path)
    ref = add_reference_set(path, n=2)
    assert ref["source"] == "noise" and len(ref["images"]) == 2
    assert run_self_test(OnnxRuntimeBackend(path, threads=1))["passed"]


def test_encoding_and_tolerance_fit():
    a = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    assert np.array_equal(decode_array(encode_array(a)), a)
    tol = fit_tolerance({"outputs": {"category_logits": {"cosine_min": 0.9, "max_abs": 1.0},
                                     "gate1": {"cosine_min": 0.99, "max_abs": 0.2}},
                         "top1": {"worst_gap": 0.1}}, "int8")
    assert tol == pytest.approx({"cosine": 0.8, "map_abs": 0.4, "margin": 0.2})
    assert fit_tolerance({"outputs": {}}, "fp32") == {"cosine": 0.9995, "map_abs": 0.01, "margin": 0.01}
