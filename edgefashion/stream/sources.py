"""Frame sources for streams: cameras, V4L2 devices, RTSP / HTTP URLs, video files, image folders.

    src = open_source("0")                      # camera index 0 (a live source)
    src = open_source("/dev/video2")            # a V4L2 device (live)
    src = open_source("rtsp://cam.local/main")  # a network stream (live)
    src = open_source("shop.mp4")               # a video file (ends at its end)
    src = open_source("photos/")                # an image folder, sorted, recursive

A source is opened with ``open()`` and read with ``read()``, which returns one frame (an array
that the caller still validates: a camera can hand back garbage) or raises:
``EndOfSource`` (a file or folder is finished), ``CorruptFrame`` (this one frame is unreadable;
the next may be fine) or ``SourceLost`` (the device or connection is gone; live sources are
reopened by the stream with back-off). Any object with this interface can be passed to ``Stream``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from edgefashion.errors import BadInput, EdgeFashionError, ImageDecodeError
from edgefashion.labels.deepfashion import IMAGE_SUFFIXES

URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class SourceError(EdgeFashionError, RuntimeError):
    """A frame source cannot be opened, or was lost and could not be reopened."""


class SourceLost(SourceError):
    """The source stopped delivering frames (camera unplugged, network stream dropped)."""


class EndOfSource(Exception):
    """A finite source (video file, image folder) has no more frames. Not an error."""


class CorruptFrame(Exception):
    """One frame could not be read or decoded; the source itself is still usable."""


class FrameSource:
    """Base class. ``live`` sources are reopened after a loss; ``fps`` is the nominal rate or None."""

    name: str = "<source>"
    live: bool = False
    paced: bool = False   # read() itself blocks at the source's rate (a camera); files are not
    fps: float | None = None

    def open(self) -> None:
        """Open (or reopen from the start). Raises SourceError when it cannot."""

    def read(self) -> Any:
        """The next frame: normally a BGR uint8 (H, W, 3) array. See the module docstring."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device / file. Safe to call twice."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, live={self.live}, fps={self.fps})"


class VideoSource(FrameSource):
    """A cv2.VideoCapture: camera index, V4L2 device path, network URL or video file.

    live: reopen after a failure (default: True for cameras, devices and URLs, False for files;
    a file read as live behaves like a camera that comes back at the start of the file).
    """

    def __init__(self, spec: int | str | Path, live: bool | None = None,
                 options: dict[int, float] | None = None) -> None:
        self.spec = spec
        self.kind = _kind(spec)
        if self.kind == "file" and not Path(spec).is_file():
            raise BadInput(f"video source {str(spec)!r} does not exist; pass a camera index (0), a "
                           "device (/dev/video0), a URL (rtsp://...), a video file or an image folder")
        self.name = f"camera {spec}" if self.kind == "camera" else str(spec)
        self.live = (self.kind != "file") if live is None else bool(live)
        self.paced = self.kind != "file"
        self.options = dict(options or {})
        self.fps = None
        self._cap = None

    def open(self) -> None:
        import cv2

        self.close()
        if self.kind == "camera":
            cap = cv2.VideoCapture(int(self.spec))
        elif self.kind == "device":
            cap = cv2.VideoCapture(str(self.spec), cv2.CAP_V4L2)
        else:
            cap = cv2.VideoCapture(str(self.spec), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            hint = {"camera": "is a camera connected, and is it free (not used by another program)?",
                    "device": "does the device exist, and may this user read it (group 'video')?",
                    "url": "is the address right and reachable from here?",
                    "file": "is it a video format FFmpeg reads (mp4, avi, mkv ...)?"}[self.kind]
            raise SourceError(f"cannot open {self.name}: OpenCV could not open it; {hint}")
        if self.kind in ("camera", "device", "url"):
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver queue short: newest frames only
        for prop, value in self.options.items():
            cap.set(prop, value)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise SourceLost(f"{self.name} is not open")
        ok, frame = self._cap.read()
        if ok:
            return frame
        if self.live:
            raise SourceLost(f"{self.name} stopped delivering frames")
        raise EndOfSource(self.name)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageFolderSource(FrameSource):
    """Every image below a folder (recursive, sorted), one frame each; unreadable files are corrupt."""

    def __init__(self, folder: str | Path, fps: float | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise BadInput(f"image folder {str(self.folder)!r} does not exist")
        self.name = str(self.folder)
        self.fps = fps
        self._files: list[Path] = []
        self._i = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"image folder {self.name!r} does not exist any more")
        self._files = sorted(p for p in self.folder.rglob("*")
                             if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not self._files:
            raise SourceError(f"image folder {self.name!r} has no images ({', '.join(IMAGE_SUFFIXES)})")
        self._i = 0

    def read(self) -> np.ndarray:
        from edgefashion.runtime.images import load_image

        if self._i >= len(self._files):
            raise EndOfSource(self.name)
        if not self.folder.is_dir():
            raise SourceLost(f"image folder {self.name!r} disappeared")
        path = self._files[self._i]
        self._i += 1
        try:
            return load_image(path)
        except (ImageDecodeError, OSError) as e:
            raise CorruptFrame(str(e)) from e


class IterableSource(FrameSource):
    """Frames from any iterable of arrays (a list, a generator of your own capture code)."""

    def __init__(self, frames: Iterable[Any], fps: float | None = None, name: str = "<frames>") -> None:
        self.frames = frames
        self.fps = fps
        self.name = name
        self._it: Iterator[Any] | None = None

    def open(self) -> None:
        self._it = iter(self.frames)

    def read(self) -> Any:
        if self._it is None:
            self.open()
        try:
            return next(self._it)
        except StopIteration:
            raise EndOfSource(self.name) from None


def open_source(source: Any, live: bool | None = None, fps: float | None = None) -> FrameSource:
    """A FrameSource for ``source`` (not opened yet): see the module docstring for what is accepted.

    live: override the reconnect behaviour of OpenCV sources. fps: the nominal rate of an image
    folder or frame iterable (used to pace it in real time).
    """
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, (int, str, Path)) and not isinstance(source, bool):
        if not isinstance(source, int) and Path(source).is_dir():
            return ImageFolderSource(source, fps=fps)
        return VideoSource(source, live=live)
    if isinstance(source, np.ndarray) or not isinstance(source, Iterable):
        raise BadInput(f"cannot stream from {type(source).__name__}; pass a camera index, a device "
                       "path, a URL, a video file, an image folder, a FrameSource or frames")
    return IterableSource(source, fps=fps)


def check_frame(frame: Any) -> np.ndarray | None:
    """A usable BGR uint8 (H, W, 3) frame, converted from gray / BGRA / 16-bit; None if unusable."""
    from edgefashion.runtime.images import to_bgr8

    if not isinstance(frame, np.ndarray) or frame.size == 0 or frame.ndim not in (2, 3):
        return None
    if frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    try:
        return to_bgr8(frame)
    except EdgeFashionError:
        return None


def describe_frame(frame: Any) -> str:
    if isinstance(frame, np.ndarray):
        return f"array of shape {frame.shape} and dtype {frame.dtype}, not a BGR image"
    return f"got {type(frame).__name__}, not an image array"


def _kind(spec: int | str | Path) -> str:
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return "camera"
    text = str(spec)
    m = _URL.match(text)
    if m:
        if m.group(1).lower() not in URL_SCHEMES:
            raise BadInput(f"unsupported stream URL scheme {m.group(1)!r} in {text!r}; "
                           f"use one of {', '.join(URL_SCHEMES)}")
        return "url"
    if text.startswith("/dev/"):
        return "device"
    return "file"
