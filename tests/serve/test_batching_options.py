"""The batching options: `serve --max-batch / --max-delay-ms / --preferred-batch` as a process, the
automatic default (no batching on a CPU), and refused settings."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from serve_helpers import free_port, request  # noqa: E402
from test_cli_serve import wait_for  # noqa: E402

from edgefashion.errors import BadInput  # noqa: E402
from edgefashion.serve import ServeConfig, create_app  # noqa: E402
from edgefashion.serve.config import auto_max_batch  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.needs_data
def test_serve_command_batching_options(serve_onnx, photos):
    port = free_port()
    host = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgefashion.cli.main", "serve", "--model", str(serve_onnx),
         "--port", str(port), "--threads", "1", "--max-batch", "4", "--max-delay-ms", "5",
         "--preferred-batch", "2", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        health = wait_for(host, proc)
        b = health["batching"]
        assert (b["max_batch"], b["max_delay_ms"], b["preferred"]) == (4, 5.0, [2, 4])
        status, d, _ = request(host, "POST", "/predict", photos[1].read_bytes())
        assert status == 200 and d["batch"]["size"] == 1
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0


def test_without_max_batch_a_cpu_model_runs_each_request_alone(predictor):
    app = create_app(predictor)  # ONNX Runtime on the CPU
    assert app.state.edgefashion.batcher.max_batch == 1
    assert app.state.edgefashion.cfg.max_batch == 1
    app = create_app(predictor, ServeConfig(max_batch=6))
    assert app.state.edgefashion.batcher.max_batch == 6


@pytest.mark.parametrize("device, backend, expected", [
    ("cpu", "onnxruntime", 1), ("CPU", "openvino", 1), ("cuda", "onnxruntime", 8),
    ("cuda:1", "pytorch", 8), ("GPU.0", "openvino", 8), (None, "tensorrt", 8), (None, None, 1)])
def test_auto_max_batch(device, backend, expected):
    assert auto_max_batch(device, backend) == expected


@pytest.mark.parametrize("kw, words", [
    ({"max_batch": 0}, "max_batch=0"), ({"max_delay_ms": -1}, "max_delay_ms=-1"),
    ({"max_delay_ms": 120_000}, "0..60000"), ({"max_batch": 4, "preferred_batch": (2, 8)}, "[2, 8]"),
    ({"preferred_batch": (0,)}, "[0]")])
def test_bad_batching_settings_are_refused(kw, words):
    with pytest.raises(BadInput, match=words.replace("[", r"\[").replace("]", r"\]")):
        ServeConfig(**kw)
