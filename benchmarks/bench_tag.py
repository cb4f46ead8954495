"""images/s of `edgefashion tag`: the local engine vs Ray Data at 1 and 2 workers, side by side.

    python benchmarks/bench_tag.py [--width 0.25 --size 224 --images 341 --repeats 2]

The model: MSFAN (random weights rescaled LSUV-style, see bench_serve_common.build_model) at the
given width and input size, exported to ONNX, on ONNX Runtime. The images: clothing-small
validation photos (real JPEGs, ~400x533). Each round runs local-1, ray-1, local-2, ray-2 in turn
on one local Ray (started once, 2 CPUs), so load changes hit all four alike; the photos are read
once before (page cache), so no run pays for the disk alone. Two rates per run:
end to end (tag_images, including worker / actor start-up) and steady (rows between the first and
the last part written, per second: the rate a long catalog run settles at). Ray's overhead =
1 - ray / local at equal workers (each worker has the same ONNX Runtime threads in both engines).
A third, load-independent measure: CPU seconds per image summed over the driver and every Ray
process (CpuMeter), end to end and steady (between the first and the last part), since on a
shared machine a wall-clock rate is the CPU share a job wins.
Every run's rows are checked equal to the first local run's. Writes benchmarks/results/tag.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve_common import DATA, build_model  # noqa: E402
from common import write_result  # noqa: E402


class CpuMeter:
    """CPU seconds (user + system) used by this process and every descendant (raylet, GCS, Ray
    workers and actors) while it runs: polled, keeping each process's last reading, so actors that
    exit at the end still count (less at most one poll interval). On a machine shared with other
    jobs this is the fair cost measure: wall-clock rates there measure the CPU share a job wins."""

    def __init__(self, interval: float = 0.25) -> None:
        import psutil

        self.psutil, self.interval = psutil, interval
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.start = self._read()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _read(self) -> dict[int, float]:
        me = self.psutil.Process()
        out = {}
        for proc in [me, *me.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                out[proc.pid] = t.user + t.system
            except self.psutil.Error:
                pass
        return out

    def _poll(self) -> None:
        while not self.stop.wait(self.interval):
            self.last.update(self._read())

    def now(self) -> float:
        """CPU seconds so far (a fresh reading, merged with the polled ones)."""
        self.last.update(self._read())
        return sum(v - self.start.get(pid, 0.0) for pid, v in self.last.items())

    def seconds(self) -> float:
        self.stop.set()
        self.thread.join()
        self.last.update(self._read())
        return sum(v - self.start.get(pid, 0.0) for pid, v in self.last.items())


def one_run(engine: str, workers: int, paths: list[str], model: Path, work: Path, args) -> dict:
    from edgefashion.tag import read_output, tag_images

    out = work / f"{engine}{workers}-{time.monotonic_ns()}.parquet"
    stamps: list[tuple[float, int, float]] = []
    load0 = os.getloadavg()
    meter = CpuMeter()
    s = tag_images(paths, out, model, engine=engine, workers=workers, block_size=args.block_size,
                   batch_size=args.batch_size, progress=False,
                   on_part=lambda n, total: stamps.append((time.perf_counter(), total, meter.now())))
    cpu_s = meter.seconds()
    (t_first, n_first, c_first), (t_last, n_last, c_last) = stamps[0], stamps[-1]
    steady = (n_last - n_first) / (t_last - t_first) if t_last > t_first else float("nan")
    steady_cpu = 1e3 * (c_last - c_first) / max(1, n_last - n_first)
    rows = sorted(read_output(out).to_pylist(), key=lambda r: r["path"])
    return {"engine": engine, "workers": workers, "images": s.written, "errors": s.errors,
            "seconds": s.seconds, "end_to_end_ips": s.images_per_s, "steady_ips": steady,
            "cpu_s": cpu_s, "cpu_ms_per_image": 1e3 * cpu_s / max(1, s.written),
            "steady_cpu_ms_per_image": steady_cpu,
            "loadavg_before": list(load0), "loadavg_after": list(os.getloadavg()), "_rows": rows}


def summarise(runs: list[dict]) -> dict:
    out = {}
    for w in sorted({r["workers"] for r in runs}):
        row = {}
        for e in ("local", "ray"):
            sel = [r for r in runs if r["engine"] == e and r["workers"] == w]
            row[e] = {k: statistics.median(r[k] for r in sel)
                      for k in ("steady_ips", "end_to_end_ips", "cpu_ms_per_image",
                                "steady_cpu_ms_per_image")}
        row["ray_overhead_steady"] = 1 - row["ray"]["steady_ips"] / row["local"]["steady_ips"]
        row["ray_overhead_end_to_end"] = 1 - row["ray"]["end_to_end_ips"] / row["local"]["end_to_end_ips"]
        row["ray_overhead_cpu"] = row["ray"]["cpu_ms_per_image"] / row["local"]["cpu_ms_per_image"] - 1
        row["ray_overhead_steady_cpu"] = (row["ray"]["steady_cpu_ms_per_image"]
                                          / row["local"]["steady_cpu_ms_per_image"] - 1)
        out[f"workers={w}"] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--images", type=int, default=341)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--block-size", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--model", help="an ONNX model to use instead of building one")
    ap.add_argument("--out", help="result JSON (default benchmarks/results/tag.json)")
    args = ap.parse_args(argv)
    import ray

    paths = [str(p) for p in sorted((DATA / "clothing-small" / "validation").rglob("*.jpg"))]
    paths = paths[:args.images]
    for p in paths:  # into the page cache: the first run must not pay for the disk alone
        Path(p).read_bytes()
    with tempfile.TemporaryDirectory(prefix="bench-tag-") as tmp:
        work = Path(tmp)
        model = Path(args.model) if args.model else build_model(work, args.width, args.size)
        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
                 log_to_driver=False)
        ray_init_s = time.perf_counter() - t
        runs = []
        try:
            for rnd in range(args.repeats):
                for engine, w in (("local", 1), ("ray", 1), ("local", 2), ("ray", 2)):
                    r = one_run(engine, w, paths, model, work, args)
                    r["round"] = rnd
                    print(f"round {rnd} {engine:5s} x{w}: {r['steady_ips']:6.1f} img/s steady, "
                          f"{r['end_to_end_ips']:6.1f} end to end, {r['cpu_ms_per_image']:.0f} "
                          f"CPU-ms/img ({r['steady_cpu_ms_per_image']:.0f} steady), load "
                          f"{r['loadavg_before'][0]:.1f}",
                          flush=True)
                    runs.append(r)
        finally:
            ray.shutdown()
    identical = all(r["_rows"] == runs[0]["_rows"] for r in runs)
    for r in runs:
        del r["_rows"]
    summary = summarise(runs)
    for k, v in summary.items():
        print(f"{k}: local {v['local']['steady_ips']:.1f} img/s, ray {v['ray']['steady_ips']:.1f} "
              f"img/s steady -> Ray overhead {100 * v['ray_overhead_steady']:.1f} % "
              f"(end to end {100 * v['ray_overhead_end_to_end']:.1f} %); CPU per image: local "
              f"{v['local']['cpu_ms_per_image']:.0f} ms, ray {v['ray']['cpu_ms_per_image']:.0f} ms "
              f"-> {100 * v['ray_overhead_cpu']:+.1f} %; steady CPU per image: local "
              f"{v['local']['steady_cpu_ms_per_image']:.0f} ms, ray "
              f"{v['ray']['steady_cpu_ms_per_image']:.0f} ms -> {100 * v['ray_overhead_steady_cpu']:+.1f} %")
    payload = {"benchmark": "tag", "target": "Ray overhead <= 20 % of local at equal workers",
               "model": {"name": "msfan", "width": args.width, "input_size": args.size,
                         "file": model.name, "backend": "onnxruntime CPU"},
               "settings": {"images": len(paths), "repeats": args.repeats,
                            "block_size": args.block_size, "batch_size": args.batch_size,
                            "ray_cpus": 2, "source": "clothing-small/validation JPEGs"},
               "ray_init_s": ray_init_s, "answers_identical": identical, "summary": summary,
               "runs": runs}
    print(f"wrote {write_result('tag', payload, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
