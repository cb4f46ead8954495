"""Soak: the stream over a looped real video for 10 minutes, and `edgefashion serve` for 10,000
requests -- memory drift (RSS), latency drift and errors, against bounds.

    nice -n 10 python benchmarks/soak.py                        # 600 s stream, 10,000 requests
    python benchmarks/soak.py --stream-seconds 20 --requests 500 --name quick

Stream: a 20 s MJPG video of real clothing-small photos (640x480, 30 fps, each photo held 0.5 s)
played with Stream(loop=True) in real time (newest frame, drops counted); RSS of this process and
capture -> result latency per window. Server: the CLI as a child process (batching on, so the
batcher's queue and futures are soaked too), keep-alive clients in closed loop, every answer
compared with the Predictor's own; RSS of the server process and latency per 1,000 requests.
Drift = the last window against the first window after warm-up (the first window is warm-up).
Writes benchmarks/results/soak[_<name>].json and .png and prints a summary.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve_common import (Client, build_model, get_json, judge, memory_mb,  # noqa: E402
                                percentiles, photos, reference, serve_process)
from common import write_result  # noqa: E402

BOUNDS = {"anon_growth_mb": 32.0, "p50_ratio": 1.5, "errors": 0, "mixed_or_wrong": 0}


def make_video(path: Path, seconds: float = 20.0, fps: float = 30.0, size=(640, 480)) -> Path:
    import cv2

    pics = photos("validation", 40, 7)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    hold = max(1, int(fps / 2))
    for i in range(int(seconds * fps)):
        if i % hold == 0:
            img = cv2.resize(cv2.imread(str(pics[(i // hold) % len(pics)])), size)
        w.write(img)
    w.release()
    return path


def soak_stream(model: Path, video: Path, seconds: float, window_s: float, threads: int = 1,
                frames_per_loop: int | None = None) -> dict:
    """Stream the looped video for ``seconds``; one row per window: frames, fps, latency, memory.
    The longest gap between two results is kept too (a starved process shows there)."""
    from edgefashion.runtime.predictor import Predictor
    from edgefashion.stream.pipeline import Stream

    windows, lat, errors, gap = [], [], [], 0.0
    t0 = last = prev = time.perf_counter()
    with Predictor(model, threads=threads) as pred, Stream(video, pred, loop=True) as s:
        try:
            for _, p in s:
                if p.error is not None:
                    errors.append(str(p.error))
                lat.append(p.timings["latency"])
                now = time.perf_counter()
                gap, prev = max(gap, now - prev), now
                if now - t0 >= seconds and now - last < window_s / 2:
                    break  # a short last window would compare a handful of frames
                if now - last >= window_s:
                    windows.append(_window(now - t0, len(lat), now - last, lat, memory_mb()))
                    lat, last = [], now
                if now - t0 >= seconds:
                    break
        except Exception as e:  # noqa: BLE001 - a soak reports what broke instead of dying
            errors.append(f"{type(e).__name__}: {e}")
        stats = s.stats.to_dict()
    if stats["error"]:
        errors.append(stats["error"])
    loops = stats["frames_read"] / frames_per_loop if frames_per_loop else None
    return {"seconds": round(time.perf_counter() - t0, 1), "stats": stats, "errors": errors,
            "video_loops": None if loops is None else round(loops, 2),
            "longest_gap_between_results_s": round(gap, 2),
            "windows": windows, "drift": drift(windows, "p50_ms"),
            "frames_corrupt": stats["frames_corrupt"]}


def soak_stream_in_child(*args, **kw) -> dict:
    """soak_stream in a fresh process (spawn): its memory is the stream's, not this process's
    (which imported torch to build the model)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(soak_stream, args, kw)


def _window(t: float, n: int, dt: float, ms: list[float], mem: tuple[float, float]) -> dict:
    return {"t_s": round(t, 1), "n": n, "rate": round(n / dt, 2), **percentiles(ms),
            "rss_mb": round(mem[0], 1), "anon_mb": round(mem[1], 1)}


def soak_server(model: Path, requests: int, clients: int, window: int, serve_args: list,
                threads: int = 1) -> dict:
    """``requests`` POST /predict from ``clients`` keep-alive clients; one row per ``window``
    answers: latency, server RSS, errors, mixed answers."""
    from edgefashion.runtime.predictor import Predictor

    jobs = photos()
    datas = {p: p.read_bytes() for p in jobs}
    with Predictor(model, threads=threads) as pred:
        refs = {p: reference(pred(str(p))) for p in jobs}
    rows: list[tuple] = []  # (finish time, ms, verdict)
    lock, counter = threading.Lock(), iter(range(requests))
    with serve_process(model, ["--threads", threads, *serve_args]) as (host, proc):
        rss0 = memory_mb(proc.pid)
        t0 = time.perf_counter()

        def client() -> None:
            c = Client(host)
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                p = jobs[i % len(jobs)]
                status, d, _, ms = c.post(datas[p])
                verdict = judge(d, p, refs) if status == 200 else f"status {status}"
                with lock:
                    rows.append((time.perf_counter() - t0, ms, verdict))
                    if len(rows) % window == 0:
                        rows[-1] += (memory_mb(proc.pid),)
            c.close()
            with lock:
                retries.append(c.stale_retries)
                failures.extend(c.errors)

        retries: list[int] = []
        failures: list[str] = []
        with ThreadPoolExecutor(clients) as pool:
            for f in [pool.submit(client) for _ in range(clients)]:
                f.result()
        health = get_json(host, "/health")
    windows = []
    for k in range(0, len(rows) - window + 1, window):
        part = rows[k:k + window]
        ok = [r[1] for r in part if r[2] == "ok"]
        dt = part[-1][0] - (rows[k - 1][0] if k else 0.0)
        windows.append({"t_s": round(part[-1][0], 1), "n": len(part), "rate": round(len(part) / dt, 2),
                        **percentiles(ok), "rss_mb": round(part[-1][3][0], 1),
                        "anon_mb": round(part[-1][3][1], 1),
                        "errors": sum(r[2].startswith("status") for r in part),
                        "mixed_or_wrong": sum(r[2] in ("mixed", "wrong") for r in part)})
    verdicts = [r[2] for r in rows]
    return {"requests": len(rows), "clients": clients, "serve_args": [str(a) for a in serve_args],
            "seconds": round(rows[-1][0], 1) if rows else 0.0,
            "rss_start_mb": round(rss0[0], 1), "anon_start_mb": round(rss0[1], 1),
            "errors": sum(v.startswith("status") for v in verdicts),
            "mixed_or_wrong": sum(v in ("mixed", "wrong") for v in verdicts),
            "answered_by_server": health["answered"], "batching": health["batching"],
            "stale_keepalive_retries": sum(retries), "failure_messages": failures[:20],
            "windows": windows, "drift": drift(windows, "p50_ms")}


def drift(windows: list[dict], key: str) -> dict:
    """Last window against the first after warm-up (window 0): private-memory (RssAnon) and RSS
    growth, latency ratio, and the RssAnon trend (least squares, MiB per window)."""
    w = windows[1:] if len(windows) > 2 else windows
    if len(w) < 2:
        return {"anon_growth_mb": None, "rss_growth_mb": None, "p50_ratio": None,
                "anon_slope_mb_per_window": None}
    anon = np.array([x["anon_mb"] for x in w])
    slope = float(np.polyfit(np.arange(len(anon)), anon, 1)[0])
    return {"anon_growth_mb": round(float(anon[-1] - anon[0]), 1),
            "anon_max_mb": round(float(anon.max()), 1),
            "rss_growth_mb": round(w[-1]["rss_mb"] - w[0]["rss_mb"], 1),
            "p50_ratio": round(w[-1][key] / w[0][key], 3) if w[0][key] else None,
            "p50_first_ms": w[0][key], "p50_last_ms": w[-1][key],
            "anon_slope_mb_per_window": round(slope, 3),
            "anon_growth_last_4_windows_mb": round(float(anon[-1] - anon[max(0, len(anon) - 4)]), 1)}


def verdict(part: dict, errors: int, mixed: int = 0) -> dict:
    d = part["drift"]
    checks = {"errors": errors <= BOUNDS["errors"], "mixed_or_wrong": mixed <= BOUNDS["mixed_or_wrong"],
              "anon_growth_mb": d["anon_growth_mb"] is not None
              and d["anon_growth_mb"] <= BOUNDS["anon_growth_mb"],
              "p50_ratio": d["p50_ratio"] is not None and d["p50_ratio"] <= BOUNDS["p50_ratio"]}
    return {**checks, "all": all(checks.values())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help=".onnx model (default: the LSUV MSFAN of bench_serve_common)")
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--stream-seconds", type=float, default=600.0)
    ap.add_argument("--stream-window", type=float, default=60.0, help="seconds per stream window")
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--request-window", type=int, default=1000, help="requests per server window")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--serve-args", nargs="*", default=["--max-batch", "8", "--max-delay-ms", "2"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--parts", nargs="+", choices=["stream", "server"], default=["stream", "server"])
    ap.add_argument("--name")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        model = Path(args.model) if args.model else build_model(Path(tmp), args.width, args.input_size)
        video = make_video(Path(tmp) / "loop.avi")
        parts: dict = {}
        if "stream" in args.parts:
            s = soak_stream_in_child(model, video, args.stream_seconds, args.stream_window, args.threads,
                            frames_per_loop=600)
            parts["stream"] = {**s, "verdict": verdict(s, len(s["errors"]) + s["frames_corrupt"])}
        load_mid = os.getloadavg()
        if "server" in args.parts:
            try:
                v = soak_server(model, args.requests, args.clients, args.request_window,
                                args.serve_args, args.threads)
                parts["server"] = {**v, "verdict": verdict(v, v["errors"], v["mixed_or_wrong"])}
            except (Exception, SystemExit) as e:  # keep the stream's figures when the server fails
                parts["server"] = {"failed": f"{type(e).__name__}: {e}", "verdict": {"all": False}}
    result = {
        "benchmark": "soak",
        "model": {"width": args.width, "input_size": args.input_size,
                  "what": "LSUV-scaled random-weight MSFAN (bench_serve_common)" if not args.model
                  else str(args.model)},
        "bounds": BOUNDS, **parts,
        "environment": {"loadavg_before": [round(x, 2) for x in load_before],
                        "loadavg_between": [round(x, 2) for x in load_mid],
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                        "nice": os.nice(0), "note": "2-core VM shared with other jobs"},
    }
    print(summary(result))
    out = write_result("soak" + (f"_{args.name}" if args.name else ""), result)
    print(f"wrote {out} and {plot(result, out.with_suffix('.png'))}")
    return 0 if all(result[k]["verdict"]["all"] for k in parts) else 1


def summary(r: dict) -> str:
    lines = []
    if "stream" in r:
        s = r["stream"]
        lines.append(f"stream: {s['seconds']} s, {s['stats']['frames_processed']} results, "
                     f"{s['video_loops']} loops, errors {len(s['errors'])}, drift {s['drift']} -> "
                     f"{s['verdict']}")
    if "server" in r:
        v = r["server"]
        lines.append(f"server: failed: {v['failed']}" if "failed" in v else
                     f"server: {v['requests']} requests in {v['seconds']} s, errors {v['errors']}, "
                     f"mixed/wrong {v['mixed_or_wrong']}, drift {v['drift']} -> {v['verdict']}")
    return "\n".join(lines)


def plot(r: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [k for k in ("stream", "server") if "windows" in r.get(k, {})]
    fig, axes = plt.subplots(max(1, len(shown)), 2, figsize=(11, 3.3 * max(1, len(shown))),
                             squeeze=False)
    for row, key in enumerate(shown):
        part, xlabel = r[key], "seconds"
        w = part["windows"]
        t = [x["t_s"] for x in w]
        axes[row, 0].plot(t, [x["rss_mb"] for x in w], "o-", label="RSS")
        axes[row, 0].plot(t, [x["anon_mb"] for x in w], "s-", label="RssAnon (private)")
        axes[row, 0].set_ylabel("MiB")
        axes[row, 0].legend(fontsize=8)
        axes[row, 1].plot(t, [x["p50_ms"] for x in w], "o-", label="p50")
        axes[row, 1].plot(t, [x["p99_ms"] for x in w], "s--", label="p99")
        axes[row, 1].set_ylabel("latency ms")
        axes[row, 1].legend(fontsize=8)
        for ax in axes[row]:
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
            ax.set_title(("stream (looped video)" if key == "stream" else
                          f"server ({part['requests']} requests)"), fontsize=9)
    fig.suptitle(f"soak, MSFAN w{r['model']['width']} @ {r['model']['input_size']}, load "
                 f"{r['environment']['loadavg_before'][0]}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
