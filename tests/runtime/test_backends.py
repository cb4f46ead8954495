"""Backends: registry, ONNX Runtime on a real exported model, PyTorch checkpoints, TensorRT stub."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from runtime_helpers import smooth_noise
from utils import tol

from edgefashion.errors import BackendUnavailable, BadInput, ModelFileError, ShapeError, UnknownName
from edgefashion.runtime.backends import (backend_name_for, get_backend, list_backends,
                                          load_backend)
from edgefashion.runtime.metadata import read_onnx_metadata
from edgefashion.runtime.preprocess import preprocess_batch
from edgefashion.runtime.images import load_image


@pytest.fixture(scope="module")
def photo_batch(real_photos, prep_cfg):
    return preprocess_batch([load_image(p) for p in real_photos], prep_cfg)


def torch_outputs(model, x: np.ndarray) -> dict:
    import torch

    with torch.no_grad():
        return {k: v.numpy() for k, v in model(torch.from_numpy(x)).items()}


def test_registry_names_and_suffixes(tmp_path):
    assert list_backends() == ["onnxruntime", "openvino", "pytorch", "tensorrt"]
    assert [backend_name_for(f"m{s}") for s in (".onnx", ".pt", ".pth", ".engine", ".PLAN")] == [
        "onnxruntime", "pytorch", "pytorch", "tensorrt", "tensorrt"]
    with pytest.raises(ModelFileError, match=r"'\.bin'.*\.onnx"):
        backend_name_for("model.bin")
    with pytest.raises(UnknownName, match="onnxruntime, openvino, pytorch, tensorrt"):
        get_backend("tflite")
    assert get_backend("ort").name == "onnxruntime" and get_backend("torch").name == "pytorch"
    with pytest.raises(ModelFileError, match="does not exist"):
        load_backend(tmp_path / "missing.onnx")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed")
def test_tensorrt_engine_says_not_installed(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\0" * 64)
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed.*pip install tensorrt"):
        load_backend(engine)


@pytest.mark.needs_data
def test_onnxruntime_matches_pytorch_on_real_photos(onnx_path, torch_model, photo_batch):
    be = load_backend(onnx_path, threads=1)
    assert be.name == "onnxruntime" and be.device == "cpu"
    assert be.input_specs["image"].shape == (None, 3, 64, 64)
    assert be.input_specs["image"].dtype == np.float32
    assert be.output_names == list(torch_model.output_names)
    got, ref = be.infer({"image": photo_batch}), torch_outputs(torch_model, photo_batch)
    assert set(got) == set(ref)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], **tol("onnx_vs_torch"), err_msg=name)
    assert (got["category_logits"].argmax(1) == ref["category_logits"].argmax(1)).all()
    be.warmup(2)


def test_onnx_metadata_from_path_and_session(onnx_path, onnx_no_meta_path, schema, prep_cfg):
    be = load_backend(onnx_path)
    meta = read_onnx_metadata(onnx_path)
    assert meta == read_onnx_metadata(be.session) == be.metadata
    assert meta["model"] == "msfan" and meta["schema"] == schema.to_dict()
    assert meta["preprocess"]["input_size"] == prep_cfg.input_size
    assert read_onnx_metadata(onnx_no_meta_path) is None
    assert load_backend(onnx_no_meta_path).metadata is None


def test_onnx_providers_and_options(onnx_path):
    assert load_backend(onnx_path, providers=["cpu"]).session.get_providers() == [
        "CPUExecutionProvider"]
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider.*onnxruntime-gpu"):
            load_backend(onnx_path, providers="cuda")
        with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider"):
            load_backend(onnx_path, device="cuda")
    with pytest.raises(BadInput, match="threads=0"):
        load_backend(onnx_path, threads=0)
    with pytest.raises(BadInput, match="unknown ONNX Runtime backend options"):
        load_backend(onnx_path, precision="int8")
    be = load_backend(onnx_path, optimization="disable")
    with pytest.raises(ShapeError, match=r"\(\?, 3, 64, 64\)"):
        be.infer({"image": np.zeros((1, 3, 32, 32), np.float32)})
    with pytest.raises(ShapeError, match="missing"):
        be.infer({"x": np.zeros((1, 3, 64, 64), np.float32)})


@pytest.mark.parametrize("content", [b"", b"hello, I am not a model\n", bytes(range(256)) * 8,
                                     b"\x89PNG\r\n\x1a\n" + b"\0" * 64])
def test_file_that_is_not_onnx(tmp_path, content):
    bad = tmp_path / "fake.onnx"
    bad.write_bytes(content)
    with pytest.raises(ModelFileError, match="fake.onnx.*not an ONNX model"):
        load_backend(bad)


def test_pytorch_backend_runs_checkpoint(ckpt_path, torch_model, schema):
    be = load_backend(ckpt_path)
    assert be.name == "pytorch" and be.device == "cpu"
    assert be.metadata["model"] == "msfan" and be.metadata["schema"] == schema.to_dict()
    assert be.output_specs["category_logits"].shape == (None, schema.num_categories)
    assert be.output_specs["gate1"].shape == (None, 1, 32, 32)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    got, ref = be.infer({"image": x}), torch_outputs(torch_model, x)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], **tol("fp32"), err_msg=name)


def test_pytorch_files_that_are_not_checkpoints(tmp_path, ckpt_path):
    import torch

    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(ModelFileError, match="notes.pt"):
        load_backend(text)
    plain = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(ModelFileError, match="weights.pt.*not an edgefashion checkpoint"):
        load_backend(plain)
    ckpt = torch.load(ckpt_path, weights_only=True)
    ckpt["model"] = "resnet9000"
    unknown = tmp_path / "unknown.pt"
    torch.save(ckpt, unknown)
    with pytest.raises(ModelFileError, match="resnet9000.*msfan"):
        load_backend(unknown)


def test_pytorch_cuda_request_without_gpu(ckpt_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(BadInput, match="no CUDA GPU.*device='cpu'"):
        load_backend(ckpt_path, device="cuda")


@pytest.mark.needs_cuda
def test_pytorch_backend_on_cuda_matches_cpu(ckpt_path, schema):
    import torch

    from edgefashion.runtime.predictor import Predictor

    x = smooth_noise(4, 64, seed=1)
    cpu, gpu = load_backend(ckpt_path), load_backend(ckpt_path, device="cuda")
    assert gpu.device == "cuda" and next(gpu.model.parameters()).is_cuda
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # compare fp32 with fp32, not TF32 convolutions
    try:
        got = gpu.infer({"image": x})
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    ref = cpu.infer({"image": x})
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], **tol("onnx_vs_torch"), err_msg=name)
    img = (np.random.default_rng(0).random((90, 70, 3)) * 255).astype(np.uint8)
    r = Predictor(ckpt_path, device="cuda")(img)
    assert r.ok and r.category.label in schema.category_names and r.gates["gate1"].shape == (32, 32)
