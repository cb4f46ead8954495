"""edgefashion serve --model M [--source S]: the web service and kiosk page (FastAPI + uvicorn)."""
from __future__ import annotations

from edgefashion.cli.stream import add_source_options, setup_logging, stream_options


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
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--backend", default="auto")
    p.add_argument("--device")
    p.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads")
    add_source_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.serve import ServeConfig, create_app
    from edgefashion.serve import run as serve

    setup_logging(quiet=False)
    cfg = ServeConfig(host=args.host, port=args.port, max_upload_mb=args.max_upload_mb,
                      max_pixels=args.max_pixels, concurrency=args.concurrency, queue=args.queue,
                      top_k=args.top_k)
    opts = {k: v for k, v in dict(backend=args.backend, device=args.device,
                                  threads=args.threads).items() if v is not None}
    app = create_app(args.model, cfg, source=args.source,
                     stream_options=stream_options(args) if args.source is not None else None, **opts)
    print(f"serving {args.model} on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    serve(app, host=args.host, port=args.port)
    return 0
