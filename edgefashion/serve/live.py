"""The live camera behind the page: a Stream in a background thread, the newest annotated frame as
JPEG (for /stream.mjpg) and the newest prediction as JSON (for /live.json)."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, AsyncIterator, Callable

log = logging.getLogger("edgefashion.serve")
BOUNDARY = "frame"


class LiveFeed:
    """make_stream: a callable returning a started-or-not Stream; the feed iterates it."""

    def __init__(self, make_stream: Callable[[], Any], jpeg_quality: int = 80) -> None:
        self.make_stream = make_stream
        self.jpeg_quality = int(jpeg_quality)
        self.stream: Any = None
        self.jpeg: bytes | None = None
        self.prediction: dict | None = None
        self.version = 0
        self.error: str | None = None
        self.running = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="edgefashion-live", daemon=True)
        self.running = True
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.stream is not None:
            self.stream.stop()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.running = False

    @property
    def closed(self) -> bool:
        return self._stop.is_set() or not self.running

    def _run(self) -> None:
        import cv2

        from edgefashion.errors import EdgeFashionError
        from edgefashion.runtime.visualize import draw_prediction

        try:
            self.stream = self.make_stream()
            cfg = self.stream.predictor.preprocess_config
            for frame, pred in self.stream:
                if self._stop.is_set():
                    break
                img = draw_prediction(frame, pred, preprocess=cfg, min_size=0)
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
                if not ok:
                    continue
                d = pred.to_dict(scores=False)
                d["frame"] = pred.source.rsplit("#", 1)[-1]
                with self._lock:
                    self.jpeg, self.prediction = buf.tobytes(), d
                    self.version += 1
        except EdgeFashionError as e:
            self.error = str(e)
            log.error("live source stopped: %s", e)
        except Exception as e:  # a broken camera must not take the service down
            self.error = f"{type(e).__name__}: {e}"
            log.exception("live source failed")
        finally:
            self.running = False
            if self.stream is not None:
                self.stream.stop()
                log.info("live source: %s", self.stream.stats.summary())

    def status(self) -> dict:
        """What the page and /health show about the live source."""
        s = self.stream
        return {"running": self.running, "error": self.error,
                "source": getattr(getattr(s, "source", None), "name", None)
                or getattr(self, "source_name", None),
                "stats": s.stats.to_dict() if s is not None else None}

    def latest(self) -> dict:
        with self._lock:
            return {"version": self.version, "prediction": self.prediction, **self.status()}

    async def mjpeg(self, is_disconnected: Callable[[], Any], poll: float = 0.02
                    ) -> AsyncIterator[bytes]:
        """multipart/x-mixed-replace parts, one per new annotated frame, until the client leaves
        or the feed stops."""
        seen, last_check = -1, 0.0
        while True:
            with self._lock:
                version, jpeg = self.version, self.jpeg
            if jpeg is not None and version != seen:
                seen = version
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                       "\r\n\r\n").encode() + jpeg + b"\r\n"
            elif self.closed:
                return
            now = time.monotonic()
            if now - last_check > 0.5:
                last_check = now
                if await is_disconnected():
                    return
            await asyncio.sleep(poll)
