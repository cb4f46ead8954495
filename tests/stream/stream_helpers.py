"""Shared by the stream and serve tests: a tiny real ONNX model, real videos, a slowed Predictor."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from runtime_helpers import INPUT_SIZE, lsuv_, make_schema, smooth_noise  # noqa: E402

from edgefashion.runtime.predictor import Predictor  # noqa: E402

FPS = 30.0
FRAME_SIZE = (160, 120)  # (width, height) of the test videos


def make_onnx(path: Path) -> Path:
    """A tiny real MSFAN (LSUV-initialised so scores vary with the image), exported to ONNX."""
    import torch

    from edgefashion.export.onnx import export_onnx
    from edgefashion.models import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig

    schema = make_schema()
    torch.manual_seed(0)
    model = create_model("msfan", schema.num_categories, schema.num_attributes, width=0.125,
                         input_size=INPUT_SIZE)
    lsuv_(model.eval(), torch.from_numpy(smooth_noise(8, INPUT_SIZE)))
    export_onnx(model, schema, PreprocessConfig(input_size=INPUT_SIZE), path)
    return path


def shared_onnx(tmp_path_factory) -> Path:
    """The tiny model, exported once per pytest session for the stream and the serve tests."""
    path = tmp_path_factory.getbasetemp() / "edgefashion_stream_model" / "msfan.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_onnx(path)
    return path


def photo_paths(clothing_small: Path, n: int) -> list[Path]:
    """n real photos, cycling through the validation categories."""
    folders = sorted(d for d in (clothing_small / "validation").iterdir() if d.is_dir())
    per = [sorted(d.glob("*.jpg")) for d in folders]
    return [per[i % len(per)][i // len(per)] for i in range(n)]


def write_video(path: Path, photos: list[Path], fps: float = FPS, repeat: int = 1,
                size: tuple[int, int] = FRAME_SIZE) -> Path:
    """An MJPG .avi of the photos, each held for ``repeat`` frames (cv2.VideoWriter, headless)."""
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened(), "OpenCV cannot write MJPG .avi here"
    for p in photos:
        img = cv2.resize(cv2.imread(str(p)), size)
        for _ in range(repeat):
            w.write(img)
    w.release()
    return path


class SlowPredictor(Predictor):
    """The real Predictor whose inference takes at least ``delay`` seconds (a slower model)."""

    def __init__(self, path, delay: float, **kw) -> None:
        super().__init__(path, **kw)
        self.delay = delay

    def infer(self, x: np.ndarray) -> dict[str, np.ndarray]:
        t = time.perf_counter()
        out = super().infer(x)
        time.sleep(max(0.0, self.delay - (time.perf_counter() - t)))
        return out
