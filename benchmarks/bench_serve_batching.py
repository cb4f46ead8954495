"""Dynamic batching in `edgefashion serve`: 1, 8, 32 and 100 concurrent clients against real uvicorn
servers (the CLI, as child processes), with batching off (--max-batch 1) and on, side by side.

    python benchmarks/bench_serve_batching.py                       # LSUV MSFAN w0.125 at 224
    python benchmarks/bench_serve_batching.py --configs 1:0 8:2 16:5 --rounds 3

Each client holds one keep-alive connection and sends its photos one after another (closed loop);
every answer is compared with the Predictor's own answer for that photo (category top-5 and every
attribute score within 1e-4): 0 lost, 0 mixed is the target. The servers run at the same time (one
is loaded at a time) and the rounds alternate between them, so load on this shared machine hits
both alike. Writes benchmarks/results/serve_batching[_<name>].json and .png, prints a table.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve_common import (TOL, Client, build_model, get_json, judge,  # noqa: E402
                                min_pairwise_distance, percentiles, photos, reference,
                                rss_mb, serve_process)
from common import percentile, write_result  # noqa: E402


def run_level(host: str, clients: int, per_client: int, jobs: list[Path], datas: dict, refs: dict
              ) -> dict:
    """``clients`` threads, each sending ``per_client`` photos in turn; counts and latencies."""
    start = threading.Barrier(clients + 1)
    before = get_json(host, "/health")["batching"]

    def client(i: int) -> list:
        c, out = Client(host), []
        start.wait()
        for k in range(per_client):
            p = jobs[(i * per_client + k) % len(jobs)]
            status, d, _, ms = c.post(datas[p])
            out.append((status, judge(d, p, refs) if status == 200 else "lost", ms))
        c.close()
        return out

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client, i) for i in range(clients)]
        start.wait()
        t0 = time.perf_counter()
        rows = [r for f in futures for r in f.result()]
        wall = time.perf_counter() - t0
    after = get_json(host, "/health")["batching"]
    batches = after["batches"] - before["batches"]
    ok = [ms for s, v, ms in rows if v == "ok"]
    return {"clients": clients, "requests": len(rows), "ok": len(ok),
            "lost": sum(s != 200 for s, _, _ in rows), "mixed": sum(v == "mixed" for _, v, _ in rows),
            "wrong": sum(v == "wrong" for _, v, _ in rows),
            "statuses": sorted({s for s, _, _ in rows}), "wall_s": round(wall, 2),
            "throughput_rps": round(len(ok) / wall, 2), **percentiles(ok),
            "batches": batches, "mean_batch_size": round((after["requests"] - before["requests"])
                                                         / batches, 2) if batches else None}


def batcher_overhead(iters: int = 300) -> dict:
    """Median microseconds one lone item spends in a DynamicBatcher around a no-op batch
    function: the cost of the hand-over (max_batch 1) and of waiting out the delay (max_batch 8)."""

    from edgefashion.serve.batcher import DynamicBatcher

    out = {}
    for name, kw in (("max_batch_1", {"max_batch": 1, "max_delay_ms": 0}),
                     ("max_batch_8_delay_2ms", {"max_batch": 8, "max_delay_ms": 2})):
        with DynamicBatcher(lambda items: items, **kw) as b:
            ms = []
            for i in range(iters):
                t = time.perf_counter()
                b(i)
                ms.append((time.perf_counter() - t) * 1e6)
        out[name] = round(percentile(ms, 50), 1)
    return out


def parse_config(text: str) -> dict:
    b, d = text.split(":")
    return {"name": "off (max-batch 1)" if int(b) == 1 else f"max-batch {b}, delay {d} ms",
            "max_batch": int(b), "max_delay_ms": float(d)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help=".onnx model (default: the LSUV MSFAN, see --width)")
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 100])
    ap.add_argument("--min-requests", type=int, default=64,
                    help="requests per level at least (each client sends >= 2)")
    ap.add_argument("--configs", nargs="+", default=["1:0", "8:2"],
                    help="max_batch:max_delay_ms per server (1:0 = batching off)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per level")
    ap.add_argument("--concurrency", type=int, default=2, help="serve --concurrency")
    ap.add_argument("--threads", type=int, default=1, help="serve --threads (ORT intra-op)")
    ap.add_argument("--name", help="result name suffix")
    args = ap.parse_args(argv)

    from edgefashion.runtime.predictor import Predictor

    configs = [parse_config(c) for c in args.configs]
    load_before = os.getloadavg()
    jobs = photos()
    datas = {p: p.read_bytes() for p in jobs}
    with tempfile.TemporaryDirectory(prefix="bench-serve-batching-") as tmp, \
            contextlib.ExitStack() as stack:
        model = Path(args.model) if args.model else build_model(Path(tmp), args.width,
                                                                  args.input_size)
        with Predictor(model, threads=args.threads) as pred:
            refs = {p: reference(pred(str(p))) for p in jobs}  # each photo alone, batch 1
        spread = min_pairwise_distance(refs)
        hosts = []
        for c in configs:
            host, proc = stack.enter_context(serve_process(model, [
                "--threads", args.threads, "--concurrency", args.concurrency, "--queue", 256,
                "--max-batch", c["max_batch"], "--max-delay-ms", c["max_delay_ms"]]))
            for p in jobs[:8]:  # warm-up, not counted
                Client(host).post(datas[p])
            hosts.append((host, proc.pid))
        runs = {c["name"]: {n: [] for n in args.clients} for c in configs}
        for n in args.clients:
            per = max(2, -(-args.min_requests // n))
            for r in range(args.rounds):
                order = list(zip(configs, hosts))
                for c, (host, pid) in (order if r % 2 == 0 else order[::-1]):
                    res = run_level(host, n, per, jobs, datas, refs)
                    res["server_rss_mb"] = round(rss_mb(pid), 1)
                    runs[c["name"]][n].append(res)
                    print(f"{c['name']:<26} clients {n:>3} round {r + 1}: {res['throughput_rps']:>6} "
                          f"req/s p50 {res['p50_ms']} p99 {res['p99_ms']} ms, mean batch "
                          f"{res['mean_batch_size']}, lost {res['lost']}, mixed {res['mixed']}, "
                          f"wrong {res['wrong']}", file=sys.stderr, flush=True)
    result = summarise(args, configs, runs, model, spread, load_before, len(refs))
    result["batcher_overhead_us"] = batcher_overhead()
    print(table(result))
    out = write_result("serve_batching" + (f"_{args.name}" if args.name else ""), result)
    print(f"wrote {out} and {plot(result, out.with_suffix('.png'))}")
    return 0


def summarise(args, configs, runs, model, spread, load_before, n_photos: int) -> dict:
    """Per (config, clients) the round at index rounds // 2 by throughput (the median of an odd
    count, the better of two), with every round kept."""
    levels = []
    for c in configs:
        for n, rs in runs[c["name"]].items():
            best = sorted(rs, key=lambda r: r["throughput_rps"])[len(rs) // 2]
            levels.append({"config": c["name"], **best, "rounds": rs})
    every = [r for lv in levels for r in lv["rounds"]]
    return {
        "benchmark": "serve_batching",
        "model": {"file": model.name, "what": "MSFAN, random weights (seed 0) rescaled LSUV-style "
                  "on 16 real clothing-small photos; exported with edgefashion's ONNX exporter"
                  if not args.model else "given", "width": args.width, "input_size": args.input_size},
        "server": {"command": "edgefashion serve", "concurrency": args.concurrency,
                   "threads": args.threads, "queue": 256, "configs": configs},
        "clients": "threads of the benchmark process, one keep-alive connection each, closed loop",
        "check": {"tolerance": TOL, "min_distance_between_photos": spread,
                  "photos": n_photos, "reference": "Predictor(photo) alone, in the benchmark process"},
        "reported_round": "index rounds // 2 by throughput (median of an odd count, better of two)",
        "levels": levels,
        "totals": {"requests": sum(r["requests"] for r in every), "lost": sum(r["lost"] for r in every),
                   "mixed": sum(r["mixed"] for r in every), "wrong": sum(r["wrong"] for r in every)},
        "environment": {"loadavg_before": [round(x, 2) for x in load_before],
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                        "note": "2-core VM shared with other jobs; compare configs within this run"},
    }


def table(r: dict) -> str:
    lines = [f"{'config':<26} {'clients':>7} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'batch':>6} "
             f"{'lost':>5} {'mixed':>6} {'RSS MiB':>8}", "-" * 89]
    for lv in r["levels"]:
        lines.append(f"{lv['config']:<26} {lv['clients']:>7} {lv['throughput_rps']:>7} "
                     f"{lv['p50_ms']:>8} {lv['p99_ms']:>8} {str(lv['mean_batch_size']):>6} "
                     f"{lv['lost']:>5} {lv['mixed']:>6} {lv['server_rss_mb']:>8}")
    t = r["totals"]
    return "\n".join(lines) + (f"\nall rounds: {t['requests']} requests, lost {t['lost']}, mixed "
                               f"{t['mixed']}, wrong {t['wrong']}")


def plot(r: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in dict.fromkeys(lv["config"] for lv in r["levels"]):
        lv = [x for x in r["levels"] if x["config"] == name]
        n = [x["clients"] for x in lv]
        a.plot(n, [x["throughput_rps"] for x in lv], "o-", label=name)
        line, = b.plot(n, [x["p50_ms"] for x in lv], "o-", label=f"{name} p50")
        b.plot(n, [x["p99_ms"] for x in lv], "s--", color=line.get_color(), label=f"{name} p99")
    for ax, title, unit in ((a, "throughput", "answers / s"), (b, "latency", "ms")):
        ax.set_xscale("log")
        ax.set_xticks(r_clients := sorted({x["clients"] for x in r["levels"]}))
        ax.set_xticklabels([str(c) for c in r_clients])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    b.set_yscale("log")
    m = r["model"]
    env = r["environment"]
    fig.suptitle(f"edgefashion serve, MSFAN w{m['width']} @ {m['input_size']} (ONNX Runtime, CPU), "
                 f"load average {env['loadavg_before'][0]} before, {env['loadavg_after'][0]} after",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
