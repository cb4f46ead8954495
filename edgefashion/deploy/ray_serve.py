"""``edgefashion serve --runner ray``: the kiosk service as a Ray Serve deployment.

    from edgefashion.deploy.ray_serve import deploy
    handle = deploy("model.onnx", ServeConfig(max_batch=8, max_delay_ms=5), replicas=2)
    # POST http://127.0.0.1:8000/predict, GET /health, GET / (the kiosk page), as `serve` today

Each replica builds the very app of ``edgefashion serve`` (serve/app.py's ``create_app``: the same
routes, page, limits, error answers and response format) around its own Predictor, and replaces
only that app's in-process DynamicBatcher with Ray Serve's ``@serve.batch``: concurrent requests
routed to a replica are stacked into one inference of up to ``max_batch`` images, waiting at most
``max_delay_ms``. Ray Serve spreads requests over ``replicas`` (one model each, on any node of the
cluster) and can autoscale them. A live camera (``--source``) stays with the single-machine server.

Needs ``pip install "edgefashion[ray]"`` (Ray Serve); importing this module does not import Ray.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any, Mapping

from edgefashion.errors import BackendUnavailable
from edgefashion.serve.config import ServeConfig

APP_NAME = "edgefashion"
INSTALL = 'pip install "edgefashion[ray]"'


def import_serve():
    """ray.serve, or BackendUnavailable saying how to install it."""
    try:
        from ray import serve
    except ImportError as e:
        raise BackendUnavailable(f"--runner ray needs Ray Serve ({e}): {INSTALL}") from e
    return serve


class ServeBatcher:
    """The kiosk app's batcher interface (``submit`` -> awaitable, ``stats``, ``close``) on top of a
    ``@serve.batch`` method; ``run_batch`` (the app's own) runs in a thread off the event loop."""

    def __init__(self, batched, max_batch: int, max_delay_ms: float) -> None:
        self.batched, self.max_batch, self.max_delay_ms = batched, int(max_batch), float(max_delay_ms)
        self.sizes: Counter = Counter()
        self.started = time.monotonic()

    def submit(self, item: tuple):
        return asyncio.ensure_future(self._one(item))

    async def _one(self, item: tuple):
        result = await self.batched(item)
        if isinstance(result, BaseException):  # run_batch fails a request alone by returning it
            raise result
        return result

    def record(self, size: int) -> None:
        self.sizes[int(size)] += 1

    def stats(self) -> dict:
        n = sum(self.sizes.values())
        served = sum(k * v for k, v in self.sizes.items())
        return {"engine": "ray-serve", "max_batch": self.max_batch,
                "max_delay_ms": self.max_delay_ms, "batches": n, "requests": served,
                "mean_batch": served / n if n else 0.0,
                "sizes": {str(k): v for k, v in sorted(self.sizes.items())}}

    def close(self) -> None:
        pass


def _replica_class():
    """The deployment class (built on first use: its decorators need Ray Serve)."""
    serve = import_serve()

    @serve.ingress()
    class KioskReplica:
        """One replica: a Predictor, the kiosk app around it, and @serve.batch for inference."""

        def __init__(self, model: Any, config: Mapping, predictor_options: Mapping) -> None:
            from edgefashion.serve.app import create_app

            self._kiosk = create_app(model, ServeConfig.from_dict(config), **dict(predictor_options))
            self.state = self._kiosk.state.edgefashion
            cfg = self.state.cfg  # with max_batch resolved for the model's device
            self.state.batcher.close()  # the app's thread batcher gives way to @serve.batch
            self.state.batcher = ServeBatcher(self.infer, cfg.max_batch, cfg.max_delay_ms)
            self.infer.set_max_batch_size(cfg.max_batch)
            self.infer.set_batch_wait_timeout_s(cfg.max_delay_ms / 1e3)

        def __serve_build_asgi_app__(self):
            return self._kiosk

        @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.002)
        async def infer(self, items: list[tuple]) -> list:
            self.state.batcher.record(len(items))
            return await asyncio.to_thread(self.state.run_batch, items)

    return KioskReplica


def build_app(model: str | Path, config: ServeConfig | Mapping | None = None, *, replicas: int = 1,
              cpus_per_replica: float = 1.0, gpus_per_replica: float = 0.0,
              max_ongoing_requests: int | None = None, **predictor_options: Any):
    """A Ray Serve Application (``serve.run`` it) of ``replicas`` kiosk replicas of ``model``.

    max_ongoing_requests: requests one replica holds at once (default: max_batch x 4, so that
    batches can fill); predictor_options go to Predictor() (backend, device, threads)."""
    serve = import_serve()
    cfg = config if isinstance(config, ServeConfig) else ServeConfig.from_dict(config or {})
    ongoing = int(max_ongoing_requests or (cfg.max_batch or 8) * 4)
    actor = {"num_cpus": float(cpus_per_replica)}
    if gpus_per_replica:
        actor["num_gpus"] = float(gpus_per_replica)
    deployment = serve.deployment(_replica_class(), name="KioskReplica",
                                  num_replicas=int(replicas), max_ongoing_requests=ongoing,
                                  ray_actor_options=actor)
    return deployment.bind(str(Path(model).resolve()), cfg.to_dict(), dict(predictor_options))


def deploy(model: str | Path, config: ServeConfig | Mapping | None = None, *,
           route_prefix: str = "/", **kw: Any):
    """Start Serve's HTTP proxy on config's host / port (when Serve is not running yet) and deploy
    ``build_app(model, config, **kw)``; -> the application's DeploymentHandle."""
    serve = import_serve()
    cfg = config if isinstance(config, ServeConfig) else ServeConfig.from_dict(config or {})
    serve.start(http_options={"host": cfg.host, "port": int(cfg.port)})
    return serve.run(build_app(model, cfg, **kw), name=APP_NAME, route_prefix=route_prefix)


def run_cli(args: Any, cfg: ServeConfig, predictor_options: Mapping) -> int:
    """``edgefashion serve --runner ray``: deploy on a local Ray (or ``--address``) until Ctrl-C."""
    import ray

    if args.source is not None:
        from edgefashion.errors import BadInput

        raise BadInput("--source (a live camera) is served by the local engine only; drop --source "
                       "or use --runner local")
    if not ray.is_initialized():
        ray.init(address=getattr(args, "address", None), include_dashboard=False)
    serve = import_serve()
    deploy(args.model, cfg, replicas=args.replicas, **predictor_options)
    print(f"serving {args.model} with Ray Serve ({args.replicas} replica(s)) on "
          f"http://{cfg.host}:{cfg.port}/ (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(1)
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0
