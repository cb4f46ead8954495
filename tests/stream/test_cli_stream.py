"""`edgefashion stream`: JSON lines, annotated video, no-display error, Ctrl-C summary."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edgefashion.cli.main import main

pytestmark = pytest.mark.needs_data
REPO = Path(__file__).resolve().parents[2]


def test_jsonl_output_every_frame(video_30fps, stream_onnx, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    rc = main(["stream", str(video_30fps), "--model", str(stream_onnx), "--jsonl", str(out),
               "--every-frame", "--threads", "1", "-q"])
    assert rc == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [d["frame"] for d in lines] == list(range(60))
    assert all(d["category"]["label"] and d["error"] is None for d in lines)
    assert "60 frames read, 60 processed, 0 dropped" in capsys.readouterr().err


def test_annotated_video_output(video_30fps, stream_onnx, tmp_path, capsys):
    out = tmp_path / "annotated.avi"
    rc = main(["stream", str(video_30fps), "--model", str(stream_onnx), "-o", str(out),
               "--center-crop", "0.8", "--max-frames", "12", "--every-frame", "-q"])
    assert rc == 0 and f"wrote {out}" in capsys.readouterr().err
    cap = cv2.VideoCapture(str(out))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and n == 12 and frame.shape == (120, 160, 3)


def test_show_without_display_is_a_clear_error(video_30fps, stream_onnx, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    rc = main(["stream", str(video_30fps), "--model", str(stream_onnx), "--show"])
    err = capsys.readouterr().err
    assert rc == 2 and "error: cannot open a window: no display" in err and "--output" in err


def test_ctrl_c_stops_cleanly_with_a_summary(video_30fps, stream_onnx):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgefashion.cli.main", "stream", str(video_30fps), "--model",
         str(stream_onnx), "--loop", "--jsonl", "-", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()  # the stream is running
        assert json.loads(first)["frame"] == 0
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "interrupted" in err and "frames read" in err and "processed" in err
    assert "latency capture->result p50" in err
