"""A short run of benchmarks/soak.py (seconds, not minutes): the stream over a looped real video and
the `serve` command under a few hundred requests, with the same checks the long soak reports --
no errors, no mixed answers, memory measured per window. Latency drift is reported, not asserted
(no timing thresholds in tests); memory growth gets a generous bound."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import soak  # noqa: E402

pytestmark = pytest.mark.needs_data
MEM_BOUND_MB = 64.0  # loose: the long soak's bound is soak.BOUNDS["anon_growth_mb"]


@pytest.fixture(scope="module")
def short_video(tmp_path_factory) -> Path:
    return soak.make_video(tmp_path_factory.mktemp("soak") / "loop.avi", seconds=1.0, fps=15,
                           size=(160, 120))


def test_short_stream_soak_loops_the_video_without_errors(serve_onnx, short_video):
    r = soak.soak_stream(serve_onnx, short_video, seconds=4.0, window_s=1.0, frames_per_loop=15)
    assert r["errors"] == [] and r["frames_corrupt"] == 0, r["errors"]
    assert r["video_loops"] > 1  # the 1 s file was restarted
    assert len(r["windows"]) >= 3 and all(w["n"] > 0 and w["anon_mb"] > 0 for w in r["windows"])
    assert r["drift"]["anon_growth_mb"] is not None and r["drift"]["anon_growth_mb"] < MEM_BOUND_MB
    assert r["drift"]["p50_ratio"] is not None


def test_short_server_soak_answers_every_request_with_its_own_answer(serve_onnx):
    r = soak.soak_server(serve_onnx, requests=120, clients=6, window=30,
                         serve_args=["--max-batch", "8", "--max-delay-ms", "2"])
    assert r["requests"] == 120 and r["errors"] == 0 and r["mixed_or_wrong"] == 0
    assert r["answered_by_server"] == 120 and r["batching"]["requests"] == 120
    assert len(r["windows"]) == 4 and all(w["errors"] == 0 for w in r["windows"])
    assert r["drift"]["anon_growth_mb"] < MEM_BOUND_MB
    assert set(soak.verdict(r, r["errors"], r["mixed_or_wrong"])) >= {"errors", "anon_growth_mb", "all"}
