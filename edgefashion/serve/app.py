"""The FastAPI application: POST /predict, GET /health, the page, and the live camera.

    app = create_app("model.onnx", ServeConfig(concurrency=2), source="0")
    uvicorn.run(app, host="127.0.0.1", port=8080)

Decoding and preprocessing run in a thread pool; inference runs in a DynamicBatcher (batcher.py)
whose ``concurrency`` workers each group waiting requests into one batch (up to ``max_batch``,
waiting at most ``max_delay_ms`` for the batch to fill) and route each result back to its own
request. At most ``concurrency + queue`` requests are in progress; the rest are answered 503 at
once. The Predictor is shared: ONNX Runtime sessions are safe to run from several threads; other
backends run one inference at a time under a lock.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from edgefashion.errors import BadInput, EdgeFashionError
from edgefashion.serve.batcher import DynamicBatcher, QueueFull
from edgefashion.serve.config import ServeConfig, auto_max_batch
from edgefashion.serve.live import BOUNDARY, LiveFeed
from edgefashion.serve.uploads import HttpError, decode_upload, extract_image, read_body

log = logging.getLogger("edgefashion.serve")
STATIC = Path(__file__).resolve().parent / "static"
THREAD_SAFE_BACKENDS = ("onnxruntime", "openvino")
OVERLAY_SIDE = 640  # longest side of the overlay image returned with ?overlay=true


class Limiter:
    """Counts requests in progress (running + waiting); used from the event loop only."""

    def __init__(self, limit: int) -> None:
        self.limit, self.active = int(limit), 0

    def try_acquire(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1


def create_app(model: Any, config: ServeConfig | Mapping | None = None, *, source: Any = None,
               stream_options: Mapping | None = None, **predictor_options: Any) -> FastAPI:
    """model: a Predictor or a model path (predictor_options go to Predictor()); source: a camera
    / URL / file / folder to show live on the page (stream_options go to Stream())."""
    cfg = config if isinstance(config, ServeConfig) else ServeConfig.from_dict(config or {})
    owns = isinstance(model, (str, Path))
    if owns:
        from edgefashion.runtime.predictor import Predictor

        model = Predictor(model, **predictor_options)
    if cfg.max_batch is None:
        backend = getattr(model, "backend", None)
        cfg = dataclasses.replace(cfg, max_batch=auto_max_batch(getattr(backend, "device", None),
                                                                getattr(backend, "name", None)))
    state = _State(model, cfg, owns)
    if source is not None:
        from edgefashion.stream.pipeline import Stream
        from edgefashion.stream.sources import open_source

        opts = dict(stream_options or {})
        src = open_source(source, live=opts.get("live"), fps=opts.get("fps"))  # a bad path fails here
        state.feed = LiveFeed(lambda: Stream(src, model, lock=state.lock, top_k=cfg.top_k, **opts),
                              cfg.jpeg_quality)
        state.feed.source_name = src.name  # known before the feed's thread builds its Stream

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if state.feed is not None:
            state.feed.start()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(title="edgefashion", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.edgefashion = state
    _add_routes(app, state)
    _add_error_handlers(app)
    return app


class _State:
    def __init__(self, predictor, cfg: ServeConfig, owns: bool) -> None:
        self.predictor, self.cfg, self.owns = predictor, cfg, owns
        safe = getattr(getattr(predictor, "backend", None), "name", None) in THREAD_SAFE_BACKENDS
        self.lock = contextlib.nullcontext() if safe else threading.Lock()
        # decoding + preprocessing must keep up with batched inference: up to one thread per
        # image of a batch, bounded by the cores (on a 2-core CPU this stays at concurrency)
        prep = max(cfg.concurrency, min(os.cpu_count() or 1, cfg.max_batch))
        self.pool = ThreadPoolExecutor(prep, thread_name_prefix="edgefashion-prep")
        self.limiter = Limiter(cfg.concurrency + cfg.queue)
        self.batcher = DynamicBatcher(self.run_batch, cfg.max_batch, cfg.max_delay_ms,
                                      max_queue=cfg.concurrency + cfg.queue,
                                      preferred=cfg.preferred_batch, workers=cfg.concurrency,
                                      name="edgefashion-infer")
        self.feed: LiveFeed | None = None
        self.answered = 0

    def close(self) -> None:
        if self.feed is not None:
            self.feed.stop()
        self.batcher.close()
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.owns:
            self.predictor.close()

    def prepare(self, data: bytes, name: str) -> tuple:
        """Runs in a pool thread: decode and preprocess one upload -> (image, tensor, ms)."""
        img = decode_upload(data, name, self.cfg.max_pixels)
        t0 = time.perf_counter()
        try:
            x = self.predictor.preprocess(img)
        except BadInput as e:
            raise HttpError(400, type(e).__name__, str(e)) from e
        return img, x, (time.perf_counter() - t0) * 1e3

    def run_batch(self, items: list[tuple]) -> list:
        """Runs in a batcher worker: items (tensor, name, image shape, top_k) -> one (Prediction,
        batch size) (or the exception for that item) each, from one inference over the stack."""
        import numpy as np

        t0 = time.perf_counter()
        x = np.stack([it[0] for it in items])
        with self.lock:
            out = self.predictor.infer(x)
        t1 = time.perf_counter()
        preds: list = []
        for j, (_, name, shape, top_k) in enumerate(items):
            t = time.perf_counter()
            try:  # each request gets its own row of every output, post-processed alone
                row = {k: v[j:j + 1] for k, v in out.items()}
                pred = self.predictor.to_predictions(row, [name], [shape], None, top_k)[0]
            except Exception as e:  # noqa: BLE001 - fails this request only
                preds.append(e)
                continue
            pred.timings = {"inference": (t1 - t0) * 1e3,
                            "postprocess": (time.perf_counter() - t) * 1e3}
            preds.append((pred, len(items)))
        return preds

    async def predict(self, data: bytes, name: str, overlay: bool, top_k: int) -> dict:
        """Decode and preprocess in the pool, infer in the batcher, answer as a JSON-able dict."""
        loop = asyncio.get_running_loop()
        img, x, prep_ms = await loop.run_in_executor(self.pool, self.prepare, data, name)
        try:
            fut = self.batcher.submit((x, name, img.shape, top_k))
        except QueueFull as e:
            raise busy(str(e)) from e
        try:
            pred, size = await asyncio.wrap_future(fut)
        except BadInput as e:
            raise HttpError(400, type(e).__name__, str(e)) from e
        pred.timings = {"preprocess": prep_ms, **pred.timings}
        d = pred.to_dict(scores=True)
        d["image"] = {"width": int(img.shape[1]), "height": int(img.shape[0])}
        d["batch"] = {"size": size}
        if overlay:
            d["overlay"] = await loop.run_in_executor(self.pool, _overlay, img, pred,
                                                      self.predictor.preprocess_config,
                                                      self.cfg.jpeg_quality)
        return d


def busy(message: str) -> HttpError:
    return HttpError(503, "Busy", message, headers={"Retry-After": "1"})


def _overlay(img, pred, prep_cfg, quality: int) -> str:
    import cv2

    from edgefashion.runtime.visualize import draw_prediction

    f = min(1.0, OVERLAY_SIDE / max(img.shape[:2]))
    if f < 1.0:
        img = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)),
                         interpolation=cv2.INTER_AREA)
        if pred.bbox is not None:
            pred.bbox = tuple(v * f for v in pred.bbox)
    vis = draw_prediction(img, pred, preprocess=prep_cfg, min_size=320)
    ok, buf = cv2.imencode(".jpg", vis, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else ""


def _add_routes(app, state: _State) -> None:
    import edgefashion

    cfg = state.cfg
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/health")
    async def health():
        feed = state.feed
        return {"status": "ok" if feed is None or feed.error is None else "degraded",
                "version": edgefashion.__version__, "model": state.predictor.info(),
                "labels": {"categories": list(state.predictor.schema.category_names),
                           "attributes": list(state.predictor.schema.attribute_names)},
                "live": None if feed is None else feed.status(),
                "limits": {k: getattr(cfg, k) for k in ("max_upload_mb", "max_pixels", "concurrency",
                                                        "queue", "top_k")},
                "batching": state.batcher.stats(),
                "in_progress": state.limiter.active, "answered": state.answered}

    @app.post("/predict")
    async def predict(request: Request, overlay: bool = False,
                      top_k: int = Query(cfg.top_k, ge=1, le=1000)):
        if not state.limiter.try_acquire():
            raise busy(f"the service is busy: {state.limiter.active} requests in progress (limit "
                       f"{cfg.concurrency} running + {cfg.queue} waiting); retry shortly")
        try:
            body = await read_body(request, cfg.max_upload_bytes)
            data, name = await extract_image(request, body)
            result = await state.predict(data, name, overlay, top_k)
        finally:
            state.limiter.release()
        state.answered += 1
        return JSONResponse(result)

    @app.get("/live.json")
    async def live():
        if state.feed is None:
            raise HttpError(404, "NoLiveSource", "this service has no live source; start it with "
                            "--source (a camera index, URL or video file)")
        return state.feed.latest()

    @app.get("/stream.mjpg")
    async def mjpeg(request: Request):
        if state.feed is None:
            raise HttpError(404, "NoLiveSource", "this service has no live source; start it with "
                            "--source (a camera index, URL or video file)")
        return StreamingResponse(state.feed.mjpeg(request.is_disconnected),
                                 media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store"})


def _add_error_handlers(app) -> None:
    def answer(err: HttpError) -> JSONResponse:
        return JSONResponse(err.to_dict(), status_code=err.status, headers=err.headers)

    @app.exception_handler(HttpError)
    async def http_error(request, exc: HttpError):
        return answer(exc)

    @app.exception_handler(HTTPException)
    async def starlette_error(request, exc: HTTPException):
        kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        return answer(HttpError(exc.status_code, kind, f"{request.method} {request.url.path}: "
                                f"{exc.detail}"))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc: RequestValidationError):
        parts = ["{}: {}".format(".".join(str(x) for x in e.get("loc", ())), e.get("msg"))
                 for e in exc.errors()]
        return answer(HttpError(422, "ValidationError", "; ".join(parts)))

    @app.exception_handler(EdgeFashionError)
    async def sdk_error(request, exc: EdgeFashionError):
        log.error("request failed: %s", exc)
        return answer(HttpError(500, type(exc).__name__, str(exc)))

    @app.exception_handler(Exception)
    async def unexpected(request, exc: Exception):
        log.exception("request failed")
        return answer(HttpError(500, "InternalError", f"{type(exc).__name__}: {exc}"))
