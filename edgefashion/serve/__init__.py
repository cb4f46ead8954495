"""The kiosk web service: POST /predict, GET /health, a page with the live camera and an upload form.

    edgefashion serve --model model.onnx [--source 0] [--host 127.0.0.1 --port 8080]

    from edgefashion.serve import ServeConfig, create_app, run
    app = create_app("model.onnx", ServeConfig(concurrency=2), source="0")
    run(app, host="127.0.0.1", port=8080)

Needs FastAPI and uvicorn (``pip install 'edgefashion[serve]'``); importing this package does not.
"""
from __future__ import annotations

from typing import Any

from edgefashion.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app", "run"]


def create_app(*args: Any, **kwargs: Any):
    """See edgefashion.serve.app.create_app."""
    try:
        from edgefashion.serve.app import create_app as _create
    except ImportError as e:
        from edgefashion.errors import BackendUnavailable

        raise BackendUnavailable(f"the web service needs FastAPI and uvicorn ({e}): "
                                 "pip install 'edgefashion[serve]'") from e
    return _create(*args, **kwargs)


def run(app: Any, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info") -> None:
    """Serve ``app`` with uvicorn until Ctrl-C (open MJPEG streams are closed after 2 s)."""
    try:
        import uvicorn
    except ImportError as e:
        from edgefashion.errors import BackendUnavailable

        raise BackendUnavailable("serving needs uvicorn: pip install 'edgefashion[serve]'") from e
    uvicorn.run(app, host=host, port=int(port), log_level=log_level, timeout_graceful_shutdown=2)
