"""Real TensorRT engines from a tiny exported MSFAN, compared with ONNX Runtime (GPU + TensorRT only).

These skip on machines without TensorRT or a GPU (the development and CI machines); where both are
present, ``python -m pytest tests/engine -q -rs`` runs them with the rest (docs/tensorrt.md). The GPU is
found through the CUDA runtime the backend itself uses (cuda-python / pycuda), so a CPU-only PyTorch
(used here only to export the tiny model) does not turn them into skips.
"""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from engine_helpers import export_tiny_msfan, smooth_noise

pytestmark = [pytest.mark.needs_trt]


@pytest.fixture(scope="module", autouse=True)
def gpu():
    """The GPU, as the backend sees it (a skip with the CUDA runtime's reason when there is none)."""
    from edgefashion.errors import BackendUnavailable
    from edgefashion.runtime.tensorrt.cuda import open_cuda

    try:
        return open_cuda(0).device_info()
    except BackendUnavailable as e:
        pytest.skip(f"TensorRT is installed but there is no usable GPU: {e}")

# Engine vs ONNX Runtime CPU, fp32: TF32 and other kernels move logits by ~1e-3 of their scale.
FP32_COSINE, FP32_REL = 0.9995, 2e-2  # as the fp32 self-test tolerance (room for TF32)
FP16_COSINE = 0.995


def ort_outputs(path, x: np.ndarray) -> dict:
    from edgefashion.runtime.backends.onnxruntime import OnnxRuntimeBackend

    be = OnnxRuntimeBackend(path, threads=2)
    try:
        return be.infer({"image": x})
    finally:
        be.close()


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return np.einsum("ij,ij->i", a, b) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)


def assert_close(got: dict, ref: dict, min_cos: float, rel: float | None = None) -> None:
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].shape == ref[k].shape and np.isfinite(got[k]).all(), k
        assert cosine(got[k], ref[k]).min() >= min_cos, (k, cosine(got[k], ref[k]).min())
        if rel is not None:
            scale = max(float(np.abs(ref[k]).max()), 1e-6)
            assert float(np.abs(got[k] - ref[k]).max()) <= rel * scale, k


@pytest.fixture(scope="module")
def trt():
    from edgefashion.runtime.tensorrt.compat import import_tensorrt

    return import_tensorrt()


@pytest.fixture(scope="module")
def fp32_engine(tiny_onnx, tmp_path_factory):
    from edgefashion.engine import build_engine

    out = tmp_path_factory.mktemp("engines") / "msfan.engine"
    return build_engine(tiny_onnx, out, batch="1:4:8", timing_cache=str(out.parent / "trt.cache"),
                        progress=False)


def test_fp32_engine_matches_onnx_runtime(fp32_engine, tiny_onnx, trt):
    from edgefashion.runtime.backends.tensorrt import TensorRTBackend
    from edgefashion.runtime.tensorrt.sidecar import read_engine_sidecar, sha256_file

    info = read_engine_sidecar(fp32_engine.engine).engine
    assert info.precision == "fp32" and info.tensorrt_version.startswith(trt.__version__[:3])
    assert info.sha256 == sha256_file(fp32_engine.engine) and info.profiles["image"]["max"] == [8, 3, 64, 64]
    assert info.source_onnx == str(tiny_onnx.resolve()) and info.gpu_name and info.compute_capability
    assert (fp32_engine.engine.parent / "trt.cache").stat().st_size > 0  # timing cache saved
    be = TensorRTBackend(fp32_engine.engine)
    assert be.input_specs["image"].shape == (None, 3, 64, 64) and be.limits.max == 8
    for n in (1, 3, 8, 11):  # 11 > the profile's max 8: two enqueues (8 + 3)
        x = smooth_noise(n, 64, seed=n)
        assert_close(be.infer({"image": x}), ort_outputs(tiny_onnx, x), FP32_COSINE, FP32_REL)
    be.close()
    be.close()  # twice is fine


@pytest.mark.needs_data
def test_predictor_on_the_engine_agrees_with_onnx(fp32_engine, tiny_onnx, real_photos):
    from edgefashion.runtime.predictor import Predictor

    p_trt, p_ort = Predictor(fp32_engine.engine, batch_size=8), Predictor(tiny_onnx, batch_size=8, threads=2)
    assert p_trt.backend.name == "tensorrt" and p_trt.schema == p_ort.schema
    a, b = p_trt([str(p) for p in real_photos]), p_ort([str(p) for p in real_photos])
    same = np.mean([x.category.label == y.category.label for x, y in zip(a, b)])
    assert same >= 0.95  # a near-tie may flip under TF32
    np.testing.assert_allclose([r.category.probs for r in a], [r.category.probs for r in b], atol=5e-3)


def test_cuda_graphs_and_threads_give_the_same_answers(fp32_engine):
    from edgefashion.runtime.backends.tensorrt import TensorRTBackend

    plain, graphed = TensorRTBackend(fp32_engine.engine), TensorRTBackend(fp32_engine.engine, cuda_graph=True)
    xs = [smooth_noise(n, 64, seed=10 + n) for n in (4, 4, 2, 4)]
    want = [plain.infer({"image": x}) for x in xs]
    for x, w in zip(xs, want):  # 4, 4 (replayed), 2 (re-captured), 4 (re-captured after the shape change)
        got = graphed.infer({"image": x})
        for k in w:
            np.testing.assert_allclose(got[k], w[k], rtol=1e-5, atol=1e-6)
        assert graphed.loaded.graphs.key == ((len(x), 3, 64, 64),)  # one graph, for the shapes just run
    results, errors = {}, []

    def worker(i: int) -> None:
        try:
            results[i] = [plain.infer({"image": x})["category_logits"] for x in xs]
        except Exception as e:  # noqa: BLE001 - collected and reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    for r in results.values():
        for got, w in zip(r, want):
            np.testing.assert_array_equal(got, w["category_logits"])
    plain.close()
    graphed.close()


def test_mismatched_sidecar_is_refused_then_rebuilt(tiny_onnx, tmp_path):
    from edgefashion.engine import build_engine, rebuild_engine
    from edgefashion.errors import EngineMismatchError
    from edgefashion.runtime.tensorrt.sidecar import read_engine_sidecar
    from edgefashion.runtime.backends.tensorrt import TensorRTBackend
    from edgefashion.runtime.metadata import sidecar_path

    res = build_engine(tiny_onnx, tmp_path / "m.engine", batch="1:2:4", progress=False)
    side = sidecar_path(res.engine)
    data = json.loads(side.read_text())
    real_gpu = data["engine"]["gpu_name"]
    data["engine"]["gpu_name"] = "Some Other GPU"
    side.write_text(json.dumps(data))
    with pytest.raises(EngineMismatchError, match="built on a Some Other GPU") as e:
        TensorRTBackend(res.engine)
    assert f"edgefashion build {tiny_onnx.resolve()}" in str(e.value) and "--batch 1:2:4" in str(e.value)
    be = TensorRTBackend(res.engine, rebuild_on_mismatch=rebuild_engine)
    assert read_engine_sidecar(res.engine).engine.gpu_name == real_gpu
    x = smooth_noise(3, 64)
    assert_close(be.infer({"image": x}), ort_outputs(tiny_onnx, x), FP32_COSINE, FP32_REL)
    be.close()
    # a changed source ONNX is not rebuilt silently, and the old engine stays as it was
    data = json.loads(side.read_text())
    data["engine"]["tensorrt_version"] = "8.0.0"
    data["engine"]["source_onnx_sha256"] = "0" * 64
    side.write_text(json.dumps(data))
    before = res.engine.read_bytes()
    with pytest.raises(EngineMismatchError, match="changed since the engine was built"):
        TensorRTBackend(res.engine, rebuild_on_mismatch=rebuild_engine)
    assert res.engine.read_bytes() == before


@pytest.mark.needs_data
def test_fp16_engine_with_the_accuracy_gate(tiny_onnx, tmp_path, real_photos):
    from edgefashion.engine import build_engine
    from edgefashion.runtime.backends.tensorrt import TensorRTBackend

    res = build_engine(tiny_onnx, tmp_path / "m.fp16.engine", precision="fp16", batch="1:4:8", progress=False,
                       check_images=str(real_photos[0].parents[1]), num_check=20, max_drop=100.0)
    assert res.info.precision == "fp16"
    report = res.info.accuracy["engine_vs_onnx"]
    assert report["num_images"] == 20 and report["category"]["top1_agreement"] >= 0.9
    be = TensorRTBackend(res.engine)
    x = smooth_noise(4, 64)
    assert_close(be.infer({"image": x}), ort_outputs(tiny_onnx, x), FP16_COSINE)
    be.close()


@pytest.mark.needs_data
def test_int8_engine_from_a_qdq_onnx(tiny_onnx, tmp_path, real_photos, prep_cfg):
    from edgefashion.engine import build_engine
    from edgefashion.precision import int8
    from edgefashion.precision.calibration import CalibrationImages
    from edgefashion.runtime.backends.tensorrt import TensorRTBackend

    prepared = int8.prepare(tiny_onnx, tmp_path / "prepared.onnx")
    ranges = int8.calibrate(prepared, CalibrationImages(real_photos, prep_cfg, 4), progress=False)
    qdq = int8.quantize(prepared, tmp_path / "m.int8.onnx", ranges, int8.DEFAULT_METHOD)
    res = build_engine(qdq, tmp_path / "m.int8.engine", batch="1:4:8", progress=False, self_test=False)
    assert res.info.precision == "int8" and res.path.name in ("strongly_typed", "builder_flags")
    be = TensorRTBackend(res.engine)
    x = smooth_noise(8, 64)
    got, ref = be.infer({"image": x}), ort_outputs(qdq, x)  # the engine vs its own Q/DQ graph on ORT
    assert cosine(got["category_logits"], ref["category_logits"]).mean() >= 0.95
    be.close()


@pytest.mark.needs_data
def test_legacy_entropy_calibrator_and_its_cache(tiny_onnx, tmp_path, real_photos, trt):
    from edgefashion.engine import build_engine
    from edgefashion.runtime.tensorrt.compat import probe_features

    if not probe_features(trt).calibrators:
        pytest.skip(f"TensorRT {trt.__version__} has no calibrators (removed in 11)")
    photos = str(real_photos[0].parents[1])
    cache = tmp_path / "calib.json"
    res = build_engine(tiny_onnx, tmp_path / "m.engine", precision="int8", batch="1:4:8", calib=photos,
                       calib_cache=str(cache), calibrator="entropy", calib_batch=4, progress=False)
    assert res.path.name == "calibrator" and res.info.calib_cache == str(cache)
    section = json.loads(cache.read_text())["sections"]["tensorrt"]
    assert section["cache"].startswith("TRT-")
    again = build_engine(tiny_onnx, tmp_path / "again.engine", precision="int8", batch="1:4:8",
                         calib_cache=str(cache), calibrator="entropy", calib_batch=4, progress=False)
    assert again.info.precision == "int8"  # built from the cache alone, no images


def test_parser_errors_name_the_node(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from edgefashion.engine import build_engine
    from edgefashion.errors import ExportError

    node = helper.make_node("NoSuchOp", ["image"], ["y"], name="bad_node", domain="acme")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("acme", 1)])
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ExportError, match=r"(?s)cannot parse .*node 0 'bad_node' \(op [a-z:]*NoSuchOp\)"):
        build_engine(path, tmp_path / "bad.engine", progress=False)
    assert not (tmp_path / "bad.engine").exists()


def test_fused_op_plugins_match_the_reference_model(tiny_onnx, tmp_path, trt):
    from edgefashion.engine import build_engine
    from edgefashion.runtime.tensorrt.plugins import default_plugin_library
    from edgefashion.runtime.backends.tensorrt import TensorRTBackend

    lib = default_plugin_library()
    if lib is None or int(trt.__version__.split(".")[0]) < 10:
        pytest.skip("edgefashion's TensorRT plugin library is not built (TENSORRT_ROOT) or TensorRT < 10")
    custom = export_tiny_msfan(tmp_path / "custom.onnx", custom_ops=True)
    res = build_engine(custom, tmp_path / "custom.engine", batch="1:2:4", plugins=[str(lib)], progress=False)
    assert str(lib.resolve()) in res.info.plugins
    be = TensorRTBackend(res.engine)
    x = smooth_noise(4, 64)
    assert_close(be.infer({"image": x}), ort_outputs(tiny_onnx, x), FP32_COSINE, FP32_REL)
    be.close()


def test_close_lets_the_engine_go(fp32_engine):
    """Item 5 of issue 14 on a real GPU: after close() nothing keeps the engine, context or runtime alive."""
    import gc
    import weakref

    from edgefashion.runtime.backends.tensorrt import TensorRTBackend

    be = TensorRTBackend(fp32_engine.engine, cuda_graph=True)
    be.infer({"image": smooth_noise(2, 64)})
    refs = [weakref.ref(o) for o in (be.loaded.engine, be.loaded.context, be.loaded.runtime)]
    be.close()
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


def test_dla_engine_runs_on_the_core_it_was_built_for(tiny_onnx, tmp_path, trt):
    """Item 6 of issue 14: on a Jetson with DLA, an engine built for core 1 deserializes on core 1."""
    from edgefashion.engine import build_engine
    from edgefashion.runtime.backends.tensorrt import TensorRTBackend

    if trt.Builder(trt.Logger()).num_DLA_cores < 2:
        pytest.skip("needs a device with two DLA cores (Jetson AGX / NX Orin)")
    res = build_engine(tiny_onnx, tmp_path / "dla.engine", precision="fp16", batch="1:1:1", dla=1,
                       progress=False)
    be = TensorRTBackend(res.engine)
    assert be.loaded.runtime.DLA_core == 1
    x = smooth_noise(1, 64)
    assert_close(be.infer({"image": x}), ort_outputs(tiny_onnx, x), FP16_COSINE)
    be.close()
