"""OpenVINO backend on the real wheel: parity with ONNX Runtime on real photos, precision hints, the
int8 Q/DQ file as it is, IR round trip, self-test, threads, dynamic / static batch, typed errors."""
from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino)")

from edgefashion.errors import (BackendUnavailable, BadInput, MissingMetadata,  # noqa: E402
                                ModelFileError)
from edgefashion.runtime.backends import backend_name_for, get_backend, load_backend  # noqa: E402
from edgefashion.runtime.backends.openvino import HINT_DRIFT, save_ir  # noqa: E402
from edgefashion.runtime.images import load_image  # noqa: E402
from edgefashion.runtime.predictor import Predictor  # noqa: E402
from edgefashion.runtime.preprocess import preprocess_batch  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def photo_batch(real_photos, prep_cfg):
    return preprocess_batch([load_image(p) for p in real_photos], prep_cfg)


@pytest.fixture(scope="module")
def ort(onnx_path):
    return load_backend(onnx_path, "onnxruntime", threads=1)


@pytest.fixture(scope="module")
def ov(onnx_path):
    return load_backend(onnx_path, "openvino", threads=1)


@pytest.fixture(scope="module")
def int8_path(onnx_path, clothing_small, real_photos, tmp_path_factory):
    """The int8 Q/DQ file `edgefashion quantize` writes (TensorRT layout), calibrated on real photos."""
    from edgefashion.precision import quantize_onnx

    calib = [p for d in sorted((clothing_small / "train").iterdir()) for p in sorted(d.glob("*.jpg"))[:3]]
    out = tmp_path_factory.mktemp("ov_int8") / "msfan.int8.onnx"
    quantize_onnx(onnx_path, out, "int8", calib=calib, eval_images=real_photos, max_drop=None,
                  progress=False, report_path=None)
    return out


def top1(out: dict) -> np.ndarray:
    return out["category_logits"].argmax(1)


def test_fp32_matches_onnxruntime_on_real_photos(ov, ort, photo_batch):
    assert ov.name == "openvino" and ov.device == "CPU" and ov.inference_precision == "f32"
    assert ov.input_specs["image"].shape == (None, 3, 64, 64)
    assert ov.output_names == ort.output_names
    got, ref = ov.infer({"image": photo_batch}), ort.infer({"image": photo_batch})
    for name in ref:
        assert got[name].dtype == np.float32 and got[name].shape == ref[name].shape
        assert np.abs(got[name] - ref[name]).max() <= 1e-4, name
    assert ov.metadata == ort.metadata  # read from the same metadata_props


@pytest.mark.parametrize("hint", ["bf16", "f16"])
def test_precision_hint_agrees_on_real_photos(onnx_path, ort, photo_batch, hint):
    be = load_backend(onnx_path, f"openvino:{hint}", threads=1)
    assert be.precision_hint == hint
    # bf16 where the CPU has AVX-512 BF16 / AMX, else f32; an f16 hint becomes bf16 on x86 CPUs
    # without fp16 arithmetic (this AMD EPYC), f16 on Intel GPUs and CPUs with AMX-FP16
    assert be.inference_precision in (hint, "bf16", "f32")
    got, ref = be.infer({"image": photo_batch}), ort.infer({"image": photo_batch})
    assert np.mean(top1(got) == top1(ref)) >= 0.9
    a, b = got["category_logits"].ravel(), ref["category_logits"].ravel()
    assert float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) > 1 - HINT_DRIFT[hint]["cosine"]


def test_int8_qdq_file_runs_as_it_is(int8_path, onnx_path, photo_batch, ort):
    ov8 = load_backend(int8_path, "openvino", threads=1)
    ort8 = load_backend(int8_path, "onnxruntime", threads=1)
    got, same_file, fp32 = (ov8.infer({"image": photo_batch}), ort8.infer({"image": photo_batch}),
                            ort.infer({"image": photo_batch}))
    assert ov8.metadata["precision"]["precision"] == "int8"
    assert np.mean(top1(got) == top1(same_file)) >= 0.9  # the same int8 model, other int8 kernels
    assert np.mean(top1(got) == top1(fp32)) >= 0.85
    both = load_backend(int8_path, "openvino:bf16", threads=1)  # int8 + bf16 for the rest
    assert np.mean(top1(both.infer({"image": photo_batch})) == top1(fp32)) >= 0.85


def test_auto_picks_openvino_for_int8_onnx_on_x86_only(onnx_path, int8_path):
    import platform

    assert backend_name_for(onnx_path, prefer_available=True) == "onnxruntime"
    want = "openvino" if platform.machine().lower() in ("x86_64", "amd64") else "onnxruntime"
    assert backend_name_for(int8_path, prefer_available=True) == want
    assert load_backend(int8_path, threads=1).name == want
    assert load_backend(int8_path, providers=["cpu"]).name == "onnxruntime"  # ORT options: ORT
    assert get_backend("ov").name == "openvino"


def test_ir_round_trip_keeps_metadata_and_answers(onnx_path, ov, photo_batch, real_photos, tmp_path):
    xml = save_ir(onnx_path, tmp_path / "ir" / "msfan.xml")
    assert xml.is_file() and xml.with_suffix(".bin").is_file()
    be = load_backend(xml)  # .xml -> openvino by its suffix
    assert be.name == "openvino" and be.metadata == ov.metadata
    got, ref = be.infer({"image": photo_batch}), ov.infer({"image": photo_batch})
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], atol=1e-5, rtol=1e-5)
    p_ir, p_onnx = Predictor(xml, self_test=True), Predictor(onnx_path, threads=1)
    assert p_ir.self_test_report["passed"]
    for a, b in zip(p_ir(real_photos[:4]), p_onnx(real_photos[:4])):
        assert a.category.label == b.category.label
        np.testing.assert_allclose(a.category.probs, b.category.probs, atol=1e-5)


def test_self_test_per_precision(onnx_path, int8_path):
    for spec in ("openvino", "openvino:bf16"):
        p = Predictor(onnx_path, backend=spec, self_test=True)
        assert p.self_test_report["passed"], p.self_test_report
    p8 = Predictor(int8_path, backend="openvino:bf16", self_test=True)
    assert p8.self_test_report["precision"] == "int8" and p8.self_test_report["passed"]
    # the hint widened the artifact's own tolerance by its drift, nothing more
    fp32_tol = Predictor(onnx_path, backend="openvino:bf16", self_test=True).self_test_report["tolerance"]
    assert fp32_tol["cosine"] == pytest.approx(0.9995 - HINT_DRIFT["bf16"]["cosine"])


def test_threads_share_one_backend(ov, photo_batch):
    ref = ov.infer({"image": photo_batch})
    chunks = [photo_batch[i:i + 3] for i in range(0, len(photo_batch), 3)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda x: ov.infer({"image": x}), chunks * 3))
    got = np.concatenate([o["category_logits"] for o in outs[:len(chunks)]])
    np.testing.assert_allclose(got, ref["category_logits"], atol=1e-5)
    for o, x in zip(outs, chunks * 3):
        assert len(o["category_logits"]) == len(x)


def test_dynamic_and_static_batch(onnx_path, ov, photo_batch):
    for n in (1, 3, 7):
        assert ov.infer({"image": photo_batch[:n]})["category_logits"].shape == (n, 10)
    static = load_backend(onnx_path, "openvino", batch=2, threads=1)
    assert static.input_specs["image"].shape == (2, 3, 64, 64)
    p = Predictor(static)  # a static batch is padded by the Predictor
    assert p.fixed_batch == 2 and len(p.infer(photo_batch[:3])["category_logits"]) == 3


def test_typed_errors_say_what_to_do(onnx_path, onnx_no_meta_path, tmp_path):
    with pytest.raises(BadInput, match=r"'TPU' is not an OpenVINO device; use one of CPU"):
        load_backend(onnx_path, "openvino", device="TPU")
    with pytest.raises(BackendUnavailable, match=r"no (GPU|NPU) here \(devices: CPU"):
        load_backend(onnx_path, "openvino", device="NPU")
    with pytest.raises(BadInput, match="NVIDIA GPU use backend='onnxruntime' or 'tensorrt'"):
        load_backend(onnx_path, "openvino", device="cuda:0")
    with pytest.raises(BadInput, match="precision hint 'int4' must be one of f32, bf16, f16"):
        load_backend(onnx_path, "openvino", precision="int4")
    with pytest.raises(BadInput, match="'int8' in 'openvino:int8' is not a precision hint"):
        load_backend(onnx_path, "openvino:int8")
    with pytest.raises(BadInput, match="hint 'fast' must be 'latency'"):
        load_backend(onnx_path, "openvino", hint="fast")
    with pytest.raises(BadInput, match="unknown OpenVINO backend options.*valid: device"):
        load_backend(onnx_path, "openvino", providers=["cpu"])
    with pytest.raises(BadInput, match="takes no ':fp16' option"):
        load_backend(onnx_path, "onnxruntime:fp16")
    xml = save_ir(onnx_no_meta_path, tmp_path / "bare.xml")  # IR without edgefashion metadata
    assert load_backend(xml).metadata is None
    with pytest.raises(MissingMetadata, match="pass schema=LabelSchema"):
        Predictor(xml)
    xml.with_suffix(".bin").unlink()
    with pytest.raises(ModelFileError, match=r"no weights file 'bare\.bin'.*copy the \.xml and \.bin"):
        load_backend(xml)
    bad = tmp_path / "bad.xml"
    bad.write_text("<net>not an IR")
    bad.with_suffix(".bin").write_bytes(b"")
    with pytest.raises(ModelFileError, match="OpenVINO cannot read"):
        load_backend(bad)


def test_import_edgefashion_needs_no_openvino(onnx_path):
    code = ("import sys, edgefashion; p = edgefashion.Predictor(sys.argv[1], threads=1); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'openvino'))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code, str(onnx_path)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # an fp32 .onnx runs on ONNX Runtime; openvino stays unloaded


def test_cli_export_openvino_and_env(onnx_path, tmp_path, capsys):
    from edgefashion.cli.main import main

    assert main(["export-openvino", str(onnx_path), "-o", str(tmp_path / "m.xml"), "--check"]) == 0
    out = capsys.readouterr().out
    assert "m.xml" in out and "self-test passed" in out
    assert load_backend(tmp_path / "m.xml").metadata["model"] == "msfan"
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "cpu_isa" in out and "openvino_devices" in out and "CPU" in out
