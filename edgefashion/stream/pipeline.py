"""Run a model on a live source: a camera, RTSP / HTTP stream, video file or image folder.

    from edgefashion.stream import Stream
    with Stream("rtsp://cam/main", "model.onnx", center_crop=0.6) as s:
        for frame, pred in s:                    # frame: BGR (H, W, 3); pred: a smoothed Prediction
            print(pred.category.label, pred.labels)
    print(s.stats.summary())

Three stages run at once: a capture thread reads frames and leaves only the newest in a one-slot
mailbox (frames the model had no time for are dropped and counted, so latency never builds up);
a preprocessing thread prepares frame k+1 while the caller's thread runs inference on frame k
(just in time: it takes the newest frame shortly before the caller will want it, so a result is
about one inference period old, not two); the caller's thread then post-processes, smooths the
scores over the last frames with per-label hysteresis, and yields. Live sources that fail are reopened with
exponential back-off; a corrupt
frame is counted and skipped; a finite source ends the iteration (or restarts with ``loop=True``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from edgefashion.errors import BadInput, EdgeFashionError
from edgefashion.runtime.postprocess import resolve_thresholds
from edgefashion.runtime.prediction import Prediction
from edgefashion.stream.mailbox import CLOSED, EMPTY, Mailbox, sleep_until
from edgefashion.stream.smoothing import SmoothingConfig, make_smoother, smooth_prediction
from edgefashion.stream.sources import (CorruptFrame, EndOfSource, FrameSource, SourceError, SourceLost,
                                        VideoSource, check_frame, describe_frame, open_source)
from edgefashion.stream.stats import StreamStats

log = logging.getLogger("edgefashion.stream")
__all__ = ["Stream", "StreamStats", "SmoothingConfig", "Frame", "to_predictions", "roi_box"]


@dataclasses.dataclass
class Frame:
    """One captured frame: ``index`` counts every frame the source gave (corrupt ones too)."""

    index: int
    image: np.ndarray
    t_capture: float  # time.perf_counter() when read() returned
    wall: float       # time.time() at the same moment


class Stream:
    """Iterable of ``(frame, Prediction)`` over a source. See the module docstring.

    source: camera index, device path, URL, video file, image folder, FrameSource or frames.
    model: a Predictor, or a model path (then ``predictor_options`` go to Predictor()).
    roi: fixed box (x1, y1, x2, y2) in pixels; center_crop: fraction of width and height kept
    around the centre (the kiosk view). smoothing: SmoothingConfig, its dict, a window length,
    True (the default SmoothingConfig), or None for raw per-frame results. realtime: True = newest
    frame only, dropping the rest (files are paced at their frame rate); False = every frame,
    nothing dropped; None = True for OpenCV and live sources, False for folders and frame lists. fps: pace a
    folder / override.
    loop: restart a finished file or folder. reconnect / max_reconnects / backoff / max_backoff:
    reopening a lost live source (None attempts = forever). max_frames: stop after that many
    results. lock: held around inference when the model is shared with other threads.
    """

    def __init__(self, source: Any, model: Any, *, roi: Sequence[float] | None = None,
                 center_crop: float | None = None, smoothing: Any = True,
                 top_k: int = 5, threshold: Any = None, realtime: bool | None = None,
                 fps: float | None = None, loop: bool = False, live: bool | None = None,
                 reconnect: bool = True, max_reconnects: int | None = None, backoff: float = 0.5,
                 max_backoff: float = 10.0, max_frames: int | None = None, lock: Any = None,
                 **predictor_options: Any) -> None:
        if center_crop is not None and not 0 < float(center_crop) <= 1:
            raise BadInput(f"center_crop={center_crop} must be a fraction in (0, 1]")
        if roi is not None and center_crop is not None:
            raise BadInput("give either roi=(x1, y1, x2, y2) or center_crop=fraction, not both")
        if roi is not None and (len(roi) != 4 or roi[2] <= roi[0] or roi[3] <= roi[1]):
            raise BadInput(f"roi {tuple(roi)} must be (x1, y1, x2, y2) with x2 > x1 and y2 > y1")
        if backoff <= 0 or max_backoff < backoff:
            raise BadInput(f"backoff={backoff} must be > 0 and max_backoff={max_backoff} >= it")
        self.source: FrameSource = open_source(source, live=live, fps=fps)
        self._owns_model = isinstance(model, (str, Path))
        if self._owns_model:
            from edgefashion.runtime.predictor import Predictor

            model = Predictor(model, **predictor_options)
        elif predictor_options:
            raise BadInput(f"predictor options {sorted(predictor_options)} need a model path, "
                           "not an already loaded Predictor")
        self.predictor = model
        self.roi = None if roi is None else tuple(float(v) for v in roi)
        self.center_crop = None if center_crop is None else float(center_crop)
        self.top_k = int(top_k)
        self.thresholds = resolve_thresholds(model.schema, threshold)
        self.smoother = make_smoother(smoothing, model.schema, self.thresholds)
        self.realtime = (self.source.live or isinstance(self.source, VideoSource)) \
            if realtime is None else bool(realtime)
        self.fps = fps
        self.loop, self.reconnect, self.max_reconnects = bool(loop), bool(reconnect), max_reconnects
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.max_frames = max_frames
        self.lock = lock if lock is not None else contextlib.nullcontext()
        self.stats = StreamStats()
        self.last_raw: Prediction | None = None
        self._frames, self._ready = Mailbox(), Mailbox()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._reset_smoothing = False
        self._started = self._finished = False
        self._taken: float | None = None       # when the caller last took a frame
        self._period: float | None = None      # EMA of the time between takes (inference + caller)
        self._pre: float = 0.0                 # EMA of the preprocessing time

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Stream:
        """Open the source (errors surface here) and start the capture and preprocessing threads."""
        if self._started:
            return self
        self.source.open()
        self._started = True
        self.stats.start()
        for target, name in ((self._capture_loop, "capture"), (self._prep_loop, "preprocess")):
            t = threading.Thread(target=target, name=f"edgefashion-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        log.info("streaming %s (%s)", self.source.name,
                 "newest frame, drops counted" if self.realtime else "every frame")
        return self

    def request_stop(self) -> None:
        """Ask the loop to end soon (safe from a signal handler: sets an Event, takes no lock);
        iteration then ends and ``stop()`` releases everything."""
        self._stop.set()

    def stop(self) -> None:
        """Stop the threads and release the source. Safe to call twice, and from another thread."""
        self._stop.set()
        for box in (self._frames, self._ready):
            box.close()
            box.discard()
        self._join()

    def _join(self) -> None:
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5.0)
        self.stats.frames_dropped = self._frames.dropped
        if not self._finished:
            self._finished = True
            self.stats.finish(self._error)
            if self._owns_model:
                self.predictor.close()

    def __enter__(self) -> Stream:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __iter__(self) -> Iterator[tuple[np.ndarray, Prediction]]:
        self.start()
        return self

    def __next__(self) -> tuple[np.ndarray, Prediction]:
        if not self._started:
            self.start()
        if self.max_frames is not None and self.stats.frames_processed >= self.max_frames:
            self.stop()
            raise StopIteration
        while True:
            item = self._ready.get(timeout=0.1)
            if item is EMPTY:
                if self._stop.is_set():
                    raise StopIteration
                continue
            if item is CLOSED:
                self._join()
                if self._error is not None:
                    err, self._error = self._error, None
                    raise err
                raise StopIteration
            self._note_take()
            return self._process(*item)

    # ------------------------------------------------------------------ consumer (caller's thread)
    def _process(self, frame: Frame, x: np.ndarray, bbox, pre_ms: float
                 ) -> tuple[np.ndarray, Prediction]:
        t0 = time.perf_counter()
        with self.lock:
            outputs = self.predictor.infer(x[None])
        t1 = time.perf_counter()
        src = f"{self.source.name}#{frame.index}"
        raw = to_predictions(self.predictor, outputs, [src], [frame.image.shape], [bbox], self.top_k,
                             self.thresholds)[0]
        self.last_raw = raw
        if self._reset_smoothing and self.smoother is not None:
            self._reset_smoothing = False
            self.smoother.reset()
        pred = raw if self.smoother is None else smooth_prediction(raw, self.smoother, self.top_k)
        t2 = time.perf_counter()
        latency = (t2 - frame.t_capture) * 1e3
        pred.timings = {"preprocess": pre_ms, "inference": (t1 - t0) * 1e3,
                        "postprocess": (t2 - t1) * 1e3, "latency": latency}
        self.stats.add_result(latency, pred.timings)
        self.stats.frames_dropped = self._frames.dropped
        return frame.image, pred

    def _note_take(self) -> None:
        now = time.perf_counter()
        if self._taken is not None:
            dt = now - self._taken
            self._period = dt if self._period is None else 0.7 * self._period + 0.3 * dt
        self._taken = now

    # ------------------------------------------------------------------ preprocessing thread
    def _prep_loop(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._ready.wait_empty(timeout=0.1):
                    continue
                if self.realtime and self._period is not None and self._taken is not None:
                    # just in time: take the newest frame when the caller is about to want it,
                    # not right after it took the last one (that frame would wait a whole period)
                    wake = self._taken + self._period - self._pre - (0.005 + 0.1 * self._period)
                    if not sleep_until(wake, self._stop):
                        break
                f = self._frames.get(timeout=0.1)
                if f is EMPTY:
                    continue
                if f is CLOSED:
                    break
                bbox = roi_box(f.image.shape, self.roi, self.center_crop)
                t0 = time.perf_counter()
                try:
                    x = self.predictor.preprocess(f.image, bbox)
                except EdgeFashionError as e:
                    self.stats.frames_corrupt += 1
                    log.warning("frame %d of %s skipped: %s", f.index, self.source.name, e)
                    continue
                pre = time.perf_counter() - t0
                self._pre = 0.7 * self._pre + 0.3 * pre if self._pre else pre
                self._ready.put((f, x, bbox, pre * 1e3))
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = self._error or e
        finally:
            self._ready.close()
            self._frames.close()  # a capture thread waiting to hand over a frame stops too

    # ------------------------------------------------------------------ capture thread
    def _capture_loop(self) -> None:
        try:
            self._capture()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = e
            log.error("%s", e)
        finally:
            self.source.close()
            self._frames.close()

    def _capture(self) -> None:
        src, index, fails = self.source, 0, 0
        t0, n = time.perf_counter(), 0
        while not self._stop.is_set():
            rate = self.fps or src.fps
            if self.realtime and rate and not getattr(src, "paced", False):
                if time.perf_counter() > t0 + n / rate + 1.0:  # far behind: do not catch up in a burst
                    t0 = time.perf_counter() - n / rate
                if not sleep_until(t0 + n / rate, self._stop):
                    break
            try:
                raw = src.read()
            except EndOfSource:
                if not self.loop:
                    break
                src.close()
                src.open()
                t0, n = time.perf_counter(), 0
                continue
            except CorruptFrame as e:
                index, n = index + 1, n + 1
                self.stats.frames_read += 1
                self.stats.frames_corrupt += 1
                log.warning("corrupt frame %d of %s skipped: %s", index - 1, src.name, e)
                continue
            except SourceLost as e:
                if not (src.live and self.reconnect):
                    raise
                fails = self._reconnect(e, fails)
                if fails < 0:
                    break
                t0, n = time.perf_counter(), 0
                continue
            stamp, wall = time.perf_counter(), time.time()
            index, n, fails = index + 1, n + 1, 0
            self.stats.frames_read += 1
            img = check_frame(raw)
            if img is None:
                self.stats.frames_corrupt += 1
                log.warning("corrupt frame %d of %s skipped: %s", index - 1, src.name,
                            describe_frame(raw))
                continue
            if not self._frames.put(Frame(index - 1, img, stamp, wall), block=not self.realtime):
                break  # closed: the preprocessing thread stopped

    def _reconnect(self, err: Exception, fails: int) -> int:
        """Reopen the source with exponential back-off. Returns the consecutive failures so far
        (kept when the reopened source fails again before giving a frame), or -1 when stopped."""
        while True:
            if self.max_reconnects is not None and fails >= self.max_reconnects:
                raise SourceError(f"{self.source.name} was lost ({err}) and could not be reopened "
                                  f"after {fails} attempt(s); check the camera / connection and "
                                  "restart, or raise max_reconnects")
            delay = min(self.max_backoff, self.backoff * 2 ** fails)
            log.warning("%s lost (%s); reconnecting in %.2g s (attempt %d)", self.source.name, err,
                        delay, fails + 1)
            if self._stop.wait(delay):
                return -1
            fails += 1
            try:
                self.source.close()
                self.source.open()
            except SourceError as e:
                err = e
                continue
            self.stats.reconnects += 1
            self._reset_smoothing = True
            log.warning("reconnected to %s (attempt %d)", self.source.name, fails)
            return fails


def to_predictions(predictor, outputs: Mapping[str, np.ndarray], sources: Sequence[str],
                   shapes: Sequence[tuple], bboxes: Sequence | None = None, top_k: int = 5,
                   thresholds: Any = None) -> list[Prediction]:
    """Raw outputs of ``predictor.infer`` for N images -> N Predictions (the Predictor's own
    post-processing, for callers that run preprocessing and inference themselves).

    shapes: each image's (H, W[, C]) (landmarks are mapped back to image pixels with it).
    """
    return predictor.to_predictions(outputs, sources, shapes, bboxes, top_k, thresholds)


def roi_box(shape: Sequence[int], roi: Sequence[float] | None = None,
            center_crop: float | None = None) -> tuple[float, float, float, float] | None:
    """The crop box (x1, y1, x2, y2) for a frame of ``shape``: the fixed ROI clipped to the frame,
    or the centred fraction ``center_crop`` of each side; None for the whole frame."""
    h, w = int(shape[0]), int(shape[1])
    if center_crop is not None:
        cw, ch = w * center_crop, h * center_crop
        return ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    if roi is None:
        return None
    x1, y1, x2, y2 = max(0.0, roi[0]), max(0.0, roi[1]), min(float(w), roi[2]), min(float(h), roi[3])
    if x2 - x1 < 1 or y2 - y1 < 1:
        raise BadInput(f"roi {tuple(roi)} lies outside the {w}x{h} frame; give a box inside it")
    return (x1, y1, x2, y2)
