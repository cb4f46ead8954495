"""The TensorRT backend where there is no TensorRT / GPU, the CUDA layer, and the ORT providers."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from edgefashion.errors import BackendUnavailable, BadInput
from edgefashion.runtime.backends.onnxruntime import check_started, resolve_providers
from edgefashion.runtime.backends.tensorrt import TensorRTBackend, device_index

HAS_TRT = importlib.util.find_spec("tensorrt") is not None
HAS_CUDA_PYTHON = importlib.util.find_spec("cuda") is not None and (
    importlib.util.find_spec("cuda.bindings") is not None)


def _gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def test_device_index():
    assert [device_index(d) for d in (None, "cuda", "cuda:1", 2, "GPU")] == [0, 0, 1, 2, 0]
    for bad in ("cpu", "cuda:x", -1, "tpu"):
        with pytest.raises(BadInput, match="cannot run a TensorRT engine"):
            device_index(bad)


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed")
def test_engine_without_tensorrt_says_how_to_install(tmp_path):
    from edgefashion.runtime.predictor import Predictor

    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\0" * 64)
    for load in (lambda: TensorRTBackend(engine), lambda: Predictor(engine)):
        with pytest.raises(BackendUnavailable, match="TensorRT is not installed") as e:
            load()
        assert "pip install tensorrt" in str(e.value) and "JetPack" in str(e.value)
    with pytest.raises(BadInput, match="unknown TensorRT backend options"):
        TensorRTBackend(engine, providers=["cuda"])


@pytest.mark.skipif(not HAS_CUDA_PYTHON or _gpu(), reason="needs cuda-python and no usable GPU")
def test_cuda_python_without_a_gpu_is_a_clear_error():
    from edgefashion.runtime.tensorrt.cuda import CudaRuntime, open_cuda

    with pytest.raises(BackendUnavailable, match="no usable NVIDIA GPU: cudaGetDeviceCount: .*ONNX Runtime"):
        CudaRuntime(0)
    with pytest.raises(BackendUnavailable, match="no usable NVIDIA GPU"):
        open_cuda(0)
    with pytest.raises(BackendUnavailable, match="must be auto, cuda-python or pycuda"):
        open_cuda(0, "cupy")


@pytest.mark.needs_cuda
def test_cuda_round_trip_through_pinned_and_device_memory():
    from edgefashion.runtime.tensorrt.buffers import host_view
    from edgefashion.runtime.tensorrt.cuda import open_cuda

    cuda = open_cuda(0)
    name, cc = cuda.device_info()
    assert name and cc.count(".") == 1
    with cuda.active():
        host = cuda.malloc_host(4096)
        dev = cuda.malloc(4096)
        stream = cuda.stream()
        src = host_view(host, (16, 8), np.float32)
        src[:] = np.arange(128, dtype=np.float32).reshape(16, 8)
        cuda.htod_async(dev, src, stream)
        back = np.zeros((16, 8), np.float32)
        cuda.dtoh_async(back, dev, stream)
        cuda.synchronize(stream)
        np.testing.assert_array_equal(back, src)
        cuda.free(dev)
        cuda.free_host(host)
        cuda.destroy_stream(stream)


def test_ort_providers_accept_cuda_and_tensorrt_when_present():
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers(["tensorrt"], None, gpu) == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers(None, "tensorrt:1", gpu) == [
        ("TensorrtExecutionProvider", {"device_id": 1}), ("CUDAExecutionProvider", {"device_id": 1}),
        "CPUExecutionProvider"]
    assert resolve_providers(None, "cuda", gpu) == [("CUDAExecutionProvider", {"device_id": 0}),
                                                   "CPUExecutionProvider"]
    with pytest.raises(BackendUnavailable, match="'TensorrtExecutionProvider' is not available.*onnxruntime-gpu"):
        resolve_providers(["trt"], None, ["CPUExecutionProvider"])
    with pytest.raises(BadInput, match="tensorrt\\[:N\\]"):
        resolve_providers(None, "npu", gpu)


def test_a_provider_that_did_not_start_is_an_error_not_a_silent_cpu_fallback():
    check_started(["CUDAExecutionProvider", "CPUExecutionProvider"],
                  ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(BackendUnavailable, match="offers CUDAExecutionProvider but could not start it.*cuDNN"):
        check_started([("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"],
                      ["CPUExecutionProvider"], "'m.onnx'")


def test_onnx_runtime_cpu_still_works(tiny_onnx):
    from edgefashion.runtime.backends.onnxruntime import OnnxRuntimeBackend

    be = OnnxRuntimeBackend(tiny_onnx, threads=1)
    assert be.device == "cpu" and be.infer(be.dummy_inputs(2))["category_logits"].shape == (2, 10)
    if "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers():
        with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider' is not available"):
            OnnxRuntimeBackend(tiny_onnx, device="cuda")
