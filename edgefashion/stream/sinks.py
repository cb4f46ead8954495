"""Where stream results go: a window, a video file, JSON lines. Each sink: write(frame, pred), close().

    sinks = [VideoSink("out.mp4", fps=30), JsonlSink("results.jsonl")]
    for frame, pred in stream:
        for s in sinks:
            s.write(frame, pred)
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Any

import numpy as np

from edgefashion.errors import BackendUnavailable, BadInput
from edgefashion.runtime.prediction import Prediction

FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "MJPG"}


class Sink:
    def write(self, frame: np.ndarray, pred: Prediction, annotated: np.ndarray | None = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def has_display() -> bool:
    """True when a window can be shown (an X11 / Wayland display on Linux; always elsewhere)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class WindowSink(Sink):
    """cv2.imshow; raises BackendUnavailable when there is no display or OpenCV has no GUI."""

    def __init__(self, title: str = "edgefashion") -> None:
        if not has_display():
            raise BackendUnavailable(
                "cannot open a window: no display (DISPLAY / WAYLAND_DISPLAY is not set); write a "
                "video with --output out.mp4, JSON lines with --jsonl, or serve the page with --web")
        self.title = title
        self.closed_by_user = False

    def write(self, frame: np.ndarray, pred: Prediction, annotated: np.ndarray | None = None) -> None:
        import cv2

        try:
            cv2.imshow(self.title, annotated if annotated is not None else frame)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as e:
            raise BackendUnavailable(
                f"this OpenCV build cannot show windows ({str(e).strip().splitlines()[-1]}); "
                "install opencv-python instead of opencv-python-headless, or use --output / --web"
            ) from e
        if key in (27, ord("q")):
            self.closed_by_user = True

    def close(self) -> None:
        import cv2

        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass


class VideoSink(Sink):
    """Annotated frames to a video file (cv2.VideoWriter; .avi = MJPG, .mp4 = mp4v)."""

    def __init__(self, path: str | Path, fps: float | None = None, fourcc: str | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if fourcc is None and suffix not in FOURCC:
            raise BadInput(f"video output {str(self.path)!r}: unknown suffix {suffix!r}; use one of "
                           f"{', '.join(FOURCC)} or pass fourcc=")
        self.fourcc = fourcc or FOURCC[suffix]
        self.fps = fps  # None: 30, unless set before the first frame (e.g. to the source's rate)
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame: np.ndarray, pred: Prediction, annotated: np.ndarray | None = None) -> None:
        import cv2

        img = annotated if annotated is not None else frame
        size = (img.shape[1], img.shape[0])
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fps = float(self.fps) if self.fps and self.fps > 0 else 30.0
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc),
                                           fps, size)
            if not self._writer.isOpened():
                raise BackendUnavailable(f"OpenCV cannot write {str(self.path)!r} with codec "
                                         f"{self.fourcc!r}; try an .avi (MJPG) output")
            self._size = size
        if size != self._size:  # the source changed resolution: keep the file's size
            img = cv2.resize(img, self._size)
        self._writer.write(img)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class JsonlSink(Sink):
    """One JSON object per result: frame index, capture time, latency and the prediction."""

    def __init__(self, target: str | Path | IO[str], scores: bool = False) -> None:
        self.scores = scores
        if isinstance(target, (str, Path)) and str(target) != "-":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self._f, self._own = open(target, "w", encoding="utf-8"), True
        else:
            self._f, self._own = (sys.stdout if str(target) == "-" else target), False
        self.lines = 0

    def write(self, frame: np.ndarray, pred: Prediction, annotated: np.ndarray | None = None) -> None:
        d = {"frame": _frame_index(pred.source), **pred.to_dict(scores=self.scores)}
        self._f.write(json.dumps(d) + "\n")
        self._f.flush()
        self.lines += 1

    def close(self) -> None:
        if self._own:
            self._f.close()


def _frame_index(source: str) -> int | None:
    tail = source.rsplit("#", 1)[-1]
    return int(tail) if tail.isdigit() else None
