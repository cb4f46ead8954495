"""Counters and latency statistics of a stream (bounded memory: the last 4096 latencies)."""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from edgefashion.timing import percentile

LATENCY_WINDOW = 4096


@dataclass
class StreamStats:
    """frames_read = processed + dropped + corrupt (+ at most two frames in flight at a stop)."""

    frames_read: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    frames_corrupt: int = 0
    reconnects: int = 0
    error: str | None = None
    started: float | None = None
    stopped: float | None = None
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW), repr=False)
    stage_ms: dict = field(default_factory=lambda: {"preprocess": 0.0, "inference": 0.0,
                                                    "postprocess": 0.0}, repr=False)

    def start(self) -> None:
        self.started = time.perf_counter()

    def finish(self, error: BaseException | None = None) -> None:
        self.stopped = time.perf_counter()
        if error is not None:
            self.error = f"{type(error).__name__}: {error}"

    def add_result(self, latency_ms: float, timings: dict) -> None:
        self.frames_processed += 1
        self.latencies_ms.append(latency_ms)
        for k in self.stage_ms:
            self.stage_ms[k] += timings.get(k, 0.0)

    @property
    def elapsed_s(self) -> float:
        if self.started is None:
            return 0.0
        return (self.stopped or time.perf_counter()) - self.started

    @property
    def fps(self) -> float:
        """Results per second."""
        t = self.elapsed_s
        return self.frames_processed / t if t > 0 else 0.0

    @property
    def capture_fps(self) -> float:
        t = self.elapsed_s
        return self.frames_read / t if t > 0 else 0.0

    def latency_ms(self, q: float) -> float:
        """The q-quantile (0..1) of capture -> result latency over the recent window (nan if none)."""
        if not self.latencies_ms:
            return float("nan")
        return percentile(list(self.latencies_ms), 100.0 * q)

    def to_dict(self) -> dict:
        n = max(1, self.frames_processed)
        return {
            "frames_read": self.frames_read, "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped, "frames_corrupt": self.frames_corrupt,
            "reconnects": self.reconnects, "elapsed_s": round(self.elapsed_s, 3),
            "fps": round(self.fps, 2), "capture_fps": round(self.capture_fps, 2),
            "latency_p50_ms": _r(self.latency_ms(0.5)), "latency_p99_ms": _r(self.latency_ms(0.99)),
            "latency_max_ms": _r(max(self.latencies_ms, default=float("nan"))),
            "mean_stage_ms": {k: round(v / n, 3) for k, v in self.stage_ms.items()},
            "error": self.error,
        }

    def summary(self) -> str:
        """One line for people: what was read, processed, dropped, how fast, how late."""
        d = self.to_dict()
        text = (f"{d['frames_read']} frames read, {d['frames_processed']} processed, "
                f"{d['frames_dropped']} dropped, {d['frames_corrupt']} corrupt")
        if d["reconnects"]:
            text += f", {d['reconnects']} reconnects"
        text += (f" in {d['elapsed_s']:.1f} s: {d['fps']:.1f} fps, latency capture->result "
                 f"p50 {d['latency_p50_ms']} ms, p99 {d['latency_p99_ms']} ms")
        return text + (f"; stopped by {d['error']}" if d["error"] else "")


def _r(v: float) -> float | None:
    return None if math.isnan(v) else round(float(v), 2)
