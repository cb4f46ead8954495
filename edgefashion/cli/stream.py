"""edgefashion stream SOURCE --model M: live predictions on a camera, URL, video file or folder.

Outputs: a window (--show), an annotated video (--output), JSON lines (--jsonl), or the web page
(--web [HOST:]PORT). Ctrl-C stops cleanly and prints the summary.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading

from edgefashion.cli.common import add_quiet_flag, quiet_of
import time

from edgefashion.errors import BadInput
from edgefashion.runtime.backends.base import BACKEND_HELP


def add_source_options(p) -> None:
    """Stream options shared with `edgefashion serve --source`."""
    g = p.add_argument_group("stream")
    g.add_argument("--roi", metavar="X1,Y1,X2,Y2", help="analyse only this box (pixels)")
    g.add_argument("--center-crop", type=float, metavar="F",
                   help="analyse the centre F of width and height (kiosk view), e.g. 0.6")
    g.add_argument("--smooth", type=int, default=5, metavar="N",
                   help="average scores over the last N frames (1: no smoothing)")
    g.add_argument("--ema", action="store_true", help="exponential moving average instead of a window")
    g.add_argument("--enter", type=float, help="an attribute appears at this smoothed score "
                                               "(default: its threshold)")
    g.add_argument("--leave", type=float, help="... and disappears below this one (default: enter - 0.1)")
    g.add_argument("--every-frame", action="store_true",
                   help="process every frame (no drops; files are read as fast as the model goes)")
    g.add_argument("--fps", type=float, help="pace an image folder / override a file's frame rate")
    g.add_argument("--loop", action="store_true", help="restart a video file or folder at its end")
    g.add_argument("--max-reconnects", type=int,
                   help="give up on a lost camera after N failed attempts (default: never)")


def stream_options(args) -> dict:
    roi = None
    if args.roi:
        try:
            roi = tuple(float(v) for v in args.roi.split(","))
        except ValueError:
            roi = ()
        if len(roi) != 4:
            raise BadInput(f"--roi {args.roi!r} must be four numbers x1,y1,x2,y2")
    smoothing = None if args.smooth <= 1 and not args.ema else {
        "window": max(1, args.smooth), "method": "ema" if args.ema else "mean",
        "enter": args.enter, "leave": args.leave}
    return {"roi": roi, "center_crop": args.center_crop, "smoothing": smoothing,
            "realtime": False if args.every_frame else None, "fps": args.fps, "loop": args.loop,
            "max_reconnects": args.max_reconnects}


def add_parser(sub) -> None:
    p = sub.add_parser("stream", help="run a model on a camera, stream URL, video file or folder")
    p.add_argument("source", help="camera index (0), device (/dev/video0), URL (rtsp://...), "
                                  "video file or image folder")
    p.add_argument("--model", required=True, help=".onnx, .pt or .engine model")
    p.add_argument("--show", action="store_true", help="show a window (needs a display)")
    p.add_argument("-o", "--output", help="write the annotated video here (.avi, .mp4)")
    p.add_argument("--output-fps", type=float, help="frame rate of --output (default: the source's)")
    p.add_argument("--jsonl", metavar="PATH", help="write one JSON line per result ('-': stdout)")
    p.add_argument("--web", metavar="[HOST:]PORT", help="serve the live page instead (as `serve`)")
    p.add_argument("--max-frames", type=int, help="stop after this many results")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--backend", default="auto", help=BACKEND_HELP)
    p.add_argument("--device", help="cpu / cuda[:N]; OpenVINO: CPU, GPU, NPU, AUTO")
    p.add_argument("--threads", type=int, help="inference threads (ONNX Runtime, OpenVINO, PyTorch)")
    add_quiet_flag(p, "no progress lines")
    add_source_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    setup_logging(quiet_of(args))
    popts = {k: v for k, v in dict(backend=args.backend, device=args.device,
                                   threads=args.threads).items() if v is not None}
    if args.web:
        return _run_web(args, popts)
    if not (args.show or args.output or args.jsonl):
        args.jsonl = "-"
    from edgefashion.stream.pipeline import Stream

    sinks = _sinks(args)  # first: no display is an error before the model loads
    try:
        stream = Stream(args.source, args.model, top_k=args.top_k, max_frames=args.max_frames,
                        **stream_options(args), **popts)
    except BaseException:
        for s in sinks:
            s.close()
        raise
    # Ctrl-C asks the stream to stop (an Event, no locks) instead of raising KeyboardInterrupt at
    # an arbitrary point -- possibly inside a lock that stop() then needs. A second Ctrl-C forces.
    interrupted = threading.Event()

    def on_sigint(signum, frame) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        stream.request_stop()

    previous = _set_sigint(on_sigint)
    try:
        _loop(args, stream, sinks)
        if interrupted.is_set():
            print("\ninterrupted: stopping", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping", file=sys.stderr)
    except BrokenPipeError:  # `edgefashion stream ... | head`: the reader left
        sys.stdout = None
    finally:
        _set_sigint(previous)
        stream.stop()
        for s in sinks:
            s.close()
        if stream.stats.started is not None:  # not when the source could not be opened
            print(stream.stats.summary(), file=sys.stderr)
        if args.output and stream.stats.frames_processed:
            print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _set_sigint(handler):
    """Install a SIGINT handler (main thread only); returns the previous one (None elsewhere)."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, handler)


def _sinks(args) -> list:
    from edgefashion.stream.sinks import JsonlSink, VideoSink, WindowSink

    sinks = []
    if args.show:
        sinks.append(WindowSink(f"edgefashion: {args.source}"))
    if args.output:
        sinks.append(VideoSink(args.output, fps=args.output_fps or args.fps))
    if args.jsonl:
        sinks.append(JsonlSink(args.jsonl))
    return sinks


def _loop(args, stream, sinks) -> None:
    from edgefashion.runtime.visualize import draw_prediction

    draw = args.show or args.output
    cfg = stream.predictor.preprocess_config
    t0 = last = time.perf_counter()
    progress = not quiet_of(args) and args.jsonl != "-"
    stream.start()
    for s in sinks:  # a video file plays at the source's frame rate unless told otherwise
        if getattr(s, "fps", 0) is None:
            s.fps = stream.source.fps
    for frame, pred in stream:
        vis = draw_prediction(frame, pred, preprocess=cfg, min_size=0) if draw else None
        for s in sinks:
            s.write(frame, pred, vis)
        now = time.perf_counter()
        if any(getattr(s, "closed_by_user", False) for s in sinks):
            break
        if args.duration is not None and now - t0 >= args.duration:
            break
        if progress and now - last >= 2.0:
            last = now
            st = stream.stats
            print(f"{st.frames_processed} results, {st.fps:.1f} fps, {st.frames_dropped} dropped, "
                  f"latency p50 {st.latency_ms(0.5):.0f} ms | {pred!r}", file=sys.stderr)


def _run_web(args, popts: dict) -> int:
    from edgefashion.serve import ServeConfig, create_app
    from edgefashion.serve import run as serve

    host, _, port = args.web.rpartition(":")
    host = host or "127.0.0.1"
    if not port.isdigit():
        raise BadInput(f"--web {args.web!r} must be PORT or HOST:PORT")
    cfg = ServeConfig(host=host, port=int(port), top_k=args.top_k)
    app = create_app(args.model, cfg, source=args.source, stream_options=stream_options(args), **popts)
    print(f"serving the live page on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    serve(app, host=host, port=int(port))
    return 0


def setup_logging(quiet: bool) -> None:
    log = logging.getLogger("edgefashion")
    if not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(h)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
