"""Serve fixtures: the stream tests' tiny model and video, and real uvicorn servers."""
from __future__ import annotations

from pathlib import Path

import pytest
import serve_helpers  # noqa: F401 - puts tests/stream on sys.path
from stream_helpers import photo_paths, shared_onnx, write_video


@pytest.fixture(scope="session")
def serve_onnx(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    return shared_onnx(tmp_path_factory)


@pytest.fixture(scope="session")
def photos(clothing_small) -> list[Path]:
    return photo_paths(clothing_small, 20)


@pytest.fixture(scope="session")
def live_video(photos, tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("serve_videos") / "live.avi", photos, repeat=3)


@pytest.fixture(scope="session")
def predictor(serve_onnx):
    from edgefashion.runtime.predictor import Predictor

    return Predictor(serve_onnx, threads=1)


@pytest.fixture(scope="module")
def live_server(predictor, live_video):
    """A server with the video as its live camera (looping), as `serve --source` runs it."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from serve_helpers import running_server

    from edgefashion.serve import ServeConfig, create_app

    app = create_app(predictor, ServeConfig(max_upload_mb=1, max_pixels=2_000_000),
                     source=live_video, stream_options={"loop": True})
    with running_server(app) as host:
        yield host
