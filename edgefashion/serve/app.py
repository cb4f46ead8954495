"""The FastAPI application: POST /predict, GET /health, the page, and the live camera.

    app = create_app("model.onnx", ServeConfig(concurrency=2), source="0")
    uvicorn.run(app, host="127.0.0.1", port=8080)

Inference runs in a thread pool of ``concurrency`` workers; at most ``queue`` more requests wait
for one, the rest are answered 503 at once. The Predictor is shared: ONNX Runtime sessions are
safe to run from several threads; other backends run one inference at a time under a lock.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
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
from edgefashion.serve.config import ServeConfig
from edgefashion.serve.live import BOUNDARY, LiveFeed
from edgefashion.serve.uploads import HttpError, decode_upload, extract_image, read_body

log = logging.getLogger("edgefashion.serve")
STATIC = Path(__file__).resolve().parent / "static"
THREAD_SAFE_BACKENDS = ("onnxruntime",)
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
    state = _State(model, cfg, owns)
    if source is not None:
        from edgefashion.runtime.sources import open_source
        from edgefashion.runtime.stream import Stream

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
        self.pool = ThreadPoolExecutor(cfg.concurrency, thread_name_prefix="edgefashion-infer")
        self.limiter = Limiter(cfg.concurrency + cfg.queue)
        self.feed: LiveFeed | None = None
        self.answered = 0

    def close(self) -> None:
        if self.feed is not None:
            self.feed.stop()
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.owns:
            self.predictor.close()

    def predict(self, data: bytes, name: str, overlay: bool, top_k: int) -> dict:
        """Runs in a worker thread: decode, preprocess, infer (under the lock), post-process."""
        from edgefashion.runtime.stream import to_predictions

        p = self.predictor
        img = decode_upload(data, name, self.cfg.max_pixels)
        t0 = time.perf_counter()
        try:
            x = p.preprocess(img)
            t1 = time.perf_counter()
            with self.lock:
                out = p.infer(x[None])
            t2 = time.perf_counter()
            pred = to_predictions(p, out, [name], [img.shape], None, top_k)[0]
        except BadInput as e:
            raise HttpError(400, type(e).__name__, str(e)) from e
        t3 = time.perf_counter()
        pred.timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3,
                        "postprocess": (t3 - t2) * 1e3}
        d = pred.to_dict(scores=True)
        d["image"] = {"width": int(img.shape[1]), "height": int(img.shape[0])}
        if overlay:
            d["overlay"] = _overlay(img, pred, p.preprocess_config, self.cfg.jpeg_quality)
        return d


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
                "in_progress": state.limiter.active, "answered": state.answered}

    @app.post("/predict")
    async def predict(request: Request, overlay: bool = False,
                      top_k: int = Query(cfg.top_k, ge=1, le=1000)):
        if not state.limiter.try_acquire():
            raise HttpError(503, "Busy", f"the service is busy: {state.limiter.active} requests in "
                            f"progress (limit {cfg.concurrency} running + {cfg.queue} waiting); "
                            "retry shortly", headers={"Retry-After": "1"})
        try:
            body = await read_body(request, cfg.max_upload_bytes)
            data, name = await extract_image(request, body)
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(state.pool, state.predict, data, name, overlay, top_k)
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
