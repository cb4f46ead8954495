"""Stream fixtures: one tiny exported model and one real 30 fps video per session."""
from __future__ import annotations

from pathlib import Path

import pytest
from stream_helpers import photo_paths, shared_onnx, write_video


@pytest.fixture(scope="session")
def stream_onnx(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    return shared_onnx(tmp_path_factory)


@pytest.fixture(scope="session")
def photos(clothing_small) -> list[Path]:
    return photo_paths(clothing_small, 20)


@pytest.fixture(scope="session")
def video_30fps(photos, tmp_path_factory) -> Path:
    """60 frames (2 s at 30 fps): 20 real photos, each held for 3 frames."""
    return write_video(tmp_path_factory.mktemp("videos") / "clip.avi", photos, repeat=3)
