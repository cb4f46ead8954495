"""`edgefashion serve` as a process: answers, shows the live source, stops on Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from serve_helpers import free_port, request  # noqa: E402

pytestmark = pytest.mark.needs_data
REPO = Path(__file__).resolve().parents[2]


def wait_for(host: str, proc, seconds: float = 90) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.communicate()[1]}")
        try:
            return request(host, "GET", "/health", timeout=5)[1]
        except OSError:
            time.sleep(0.2)
    raise AssertionError("serve did not answer /health in time")


def test_serve_command(serve_onnx, live_video, photos):
    port = free_port()
    host = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgefashion.cli.main", "serve", "--model", str(serve_onnx),
         "--source", str(live_video), "--loop", "--port", str(port), "--threads", "1",
         "--concurrency", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        health = wait_for(host, proc)
        assert health["limits"]["concurrency"] == 1 and health["live"]["source"] == str(live_video)
        status, d, _ = request(host, "POST", "/predict", photos[0].read_bytes())
        assert status == 200 and d["category"]["label"] in health["labels"]["categories"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out
    assert "frames read" in err  # the live source's summary when it stops
