"""Serve target: 100 concurrent POST /predict answered with no error and no lost (or mixed-up)
result, against a real uvicorn server; plus an overload run showing the 503 bound.

    python benchmarks/bench_serve.py                      # width-0.125 MSFAN at 224, CPU
    python benchmarks/bench_serve.py --model m.onnx --rounds 5 --concurrency 4

Each request sends one of the clothing-small photos; every answer is compared with the Predictor's
own result for that photo. Clients are threads of this process (stdlib http.client).
Writes benchmarks/results/serve[_<name>].json and prints a table.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve_common import get_json  # noqa: E402
from bench_stream import DATA, default_model  # noqa: E402
from common import percentile, write_result  # noqa: E402


@contextlib.contextmanager
def running_server(app) -> Iterator[str]:
    """uvicorn on 127.0.0.1:<free port> in a thread; yields "host:port"."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           backlog=4096, timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def post(host: str, data: bytes) -> tuple[int, dict, dict, float]:
    t = time.perf_counter()
    conn = http.client.HTTPConnection(host, timeout=300)
    try:
        conn.request("POST", "/predict", body=data, headers={"Content-Type": "image/jpeg"})
        r = conn.getresponse()
        body = json.loads(r.read() or b"{}")
        return r.status, body, dict(r.getheaders()), (time.perf_counter() - t) * 1e3
    except OSError as e:
        return -1, {"error": {"type": type(e).__name__, "message": str(e)}}, {}, 0.0
    finally:
        conn.close()


def fire(host: str, photos: list[Path], n: int) -> tuple[list, float]:
    """n requests at once (one thread each); -> ([(photo, status, body, headers, ms)], wall s)."""
    jobs = [photos[i % len(photos)] for i in range(n)]
    t = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(lambda p: (p, *post(host, p.read_bytes())), jobs))
    return answers, time.perf_counter() - t


def check(answers: list, refs: dict) -> dict:
    ok = [a for a in answers if a[1] == 200]
    wrong = [a for a in ok if a[2]["category"]["label"] != refs[a[0]][0]
             or abs(a[2]["category"]["score"] - refs[a[0]][1]) > 1e-4]
    ms = sorted(a[4] for a in ok) or [float("nan")]
    return {"sent": len(answers), "ok": len(ok), "errors": len(answers) - len(ok), "wrong_result": len(wrong),
            "status_counts": {str(s): sum(a[1] == s for a in answers) for s in sorted({a[1] for a in answers})},
            "latency_p50_ms": round(percentile(ms, 50), 1),
            "latency_p99_ms": round(percentile(ms, 99), 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help=".onnx / .engine / .pt (default: a fresh MSFAN, see --width)")
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--requests", type=int, default=100, help="concurrent requests per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=2, help="inference workers of the service")
    ap.add_argument("--queue", type=int, default=128)
    ap.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads")
    ap.add_argument("--no-overload", action="store_true", help="skip the concurrency=1, queue=8 run")
    ap.add_argument("--name", help="result name suffix")
    ap.add_argument("--json", help="output JSON path")
    args = ap.parse_args(argv)

    from edgefashion.runtime.predictor import Predictor
    from edgefashion.serve import ServeConfig, create_app

    photos = sorted((DATA / "clothing-small" / "validation").rglob("*.jpg"))[::9][:40]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        model = Path(args.model) if args.model else default_model(Path(tmp), args.width, args.input_size)
        opts = {"threads": args.threads} if args.threads else {}
        predictor = Predictor(model, **opts)
        refs = {p: (r.category.label, r.category.score) for p, r in
                zip(photos, predictor([str(p) for p in photos]))}
        rounds = []
        app = create_app(predictor, ServeConfig(concurrency=args.concurrency, queue=args.queue))
        with running_server(app) as host:
            for i in range(args.rounds):
                answers, wall = fire(host, photos, args.requests)
                rounds.append({**check(answers, refs), "wall_s": round(wall, 2),
                               "throughput_rps": round(len(answers) / wall, 1)})
                print(f"round {i + 1}: {rounds[-1]}", file=sys.stderr)
            health = get_json(host, "/health")
        overload = None
        if not args.no_overload:
            app = create_app(predictor, ServeConfig(concurrency=1, queue=8))
            with running_server(app) as host:
                answers, wall = fire(host, photos, args.requests)
            busy = [a for a in answers if a[1] == 503]
            overload = {**check(answers, refs), "wall_s": round(wall, 2),
                        "busy_answers_are_json_with_retry_after": all(
                            a[2].get("error", {}).get("type") == "Busy" and a[3].get("retry-after") == "1"
                            for a in busy)}
    result = {
        "benchmark": "serve",
        "config": {"model": model.name, "requests_per_round": args.requests, "rounds": args.rounds,
                   "concurrency": args.concurrency, "queue": args.queue, "threads": args.threads,
                   "photos": len(photos)},
        "rounds": rounds, "answered_counter": health["answered"], "overload": overload,
        "targets": {"all_answered_no_error": all(r["ok"] == r["sent"] for r in rounds),
                    "no_lost_or_mixed_result": all(r["wrong_result"] == 0 for r in rounds)
                    and health["answered"] == args.requests * args.rounds},
        "note": "clients run in the server's process; timings on a shared machine are contended",
    }
    print(table(result))
    out = write_result("serve" + (f"_{args.name}" if args.name else ""), result, args.json)
    print(f"wrote {out}")
    return 0


def table(r: dict) -> str:
    lines = ["round  ok/sent  wrong  p50 ms  p99 ms  wall s  req/s", "-" * 52]
    for i, x in enumerate(r["rounds"], 1):
        lines.append(f"{i:<5}  {x['ok']:>3}/{x['sent']:<3}  {x['wrong_result']:>5}  {x['latency_p50_ms']:>6}  "
                     f"{x['latency_p99_ms']:>6}  {x['wall_s']:>6}  {x['throughput_rps']:>5}")
    o = r["overload"]
    if o:
        lines.append(f"overload (concurrency 1, queue 8): {o['status_counts']}, wrong {o['wrong_result']}, "
                     f"503s are JSON + Retry-After: {o['busy_answers_are_json_with_retry_after']}")
    return "\n".join(lines) + "\ntargets: " + ", ".join(f"{k}={v}" for k, v in r["targets"].items())


if __name__ == "__main__":
    sys.exit(main())
