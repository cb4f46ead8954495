"""edgefashion serve --model M [--source S]: the web service and kiosk page (FastAPI + uvicorn)."""
from __future__ import annotations

from edgefashion.cli.common import add_runner_flag, runner_of
from edgefashion.cli.stream import add_source_options, setup_logging, stream_options
from edgefashion.runtime.backends.base import BACKEND_HELP


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve POST /predict, GET /health and the kiosk page")
    p.add_argument("--model", required=True, help=".onnx, .pt or .engine model")
    p.add_argument("--source", help="live source shown on the page: camera index, device, URL, "
                                    "video file or image folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--max-upload-mb", type=float, default=10.0, help="request body limit")
    p.add_argument("--max-pixels", type=int, default=25_000_000, help="decoded image limit")
    p.add_argument("--concurrency", type=int, default=2, help="inference worker threads")
    p.add_argument("--queue", type=int, default=128,
                   help="requests that may wait for a worker; more are answered 503")
    p.add_argument("--max-batch", type=int,
                   help="dynamic batching: most requests run as one inference (1: each alone; "
                        "default: 8 on a GPU, 1 on a CPU, where batching measured no gain)")
    p.add_argument("--max-delay-ms", type=float, default=2.0,
                   help="dynamic batching: longest a request waits for its batch to fill")
    p.add_argument("--preferred-batch", type=int, nargs="+", default=(),
                   help="batch sizes run at once when they can be formed (Triton's preferred sizes)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--backend", default="auto", help=BACKEND_HELP)
    p.add_argument("--device", help="cpu / cuda[:N]; OpenVINO: CPU, GPU, NPU, AUTO")
    p.add_argument("--threads", type=int, help="inference threads (ONNX Runtime, OpenVINO, PyTorch)")
    add_source_options(p)
    add_runner_flag(p, 'local: this process; ray: Ray Serve replicas with @serve.batch '
                       '(pip install "edgefashion[ray]")')
    p.add_argument("--replicas", type=int, default=1, help="--runner ray: model replicas")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.serve import ServeConfig, create_app
    from edgefashion.serve import run as serve

    setup_logging(quiet=False)
    cfg = ServeConfig(host=args.host, port=args.port, max_upload_mb=args.max_upload_mb,
                      max_pixels=args.max_pixels, concurrency=args.concurrency, queue=args.queue,
                      max_batch=args.max_batch, max_delay_ms=args.max_delay_ms,
                      preferred_batch=tuple(args.preferred_batch), top_k=args.top_k)
    opts = {k: v for k, v in dict(backend=args.backend, device=args.device,
                                  threads=args.threads).items() if v is not None}
    if runner_of(args) == "ray":
        from edgefashion.deploy.ray_serve import run_cli

        return run_cli(args, cfg, opts)
    app = create_app(args.model, cfg, source=args.source,
                     stream_options=stream_options(args) if args.source is not None else None, **opts)
    print(f"serving {args.model} on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    serve(app, host=args.host, port=args.port)
    return 0
