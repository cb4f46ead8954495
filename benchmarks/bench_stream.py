"""Stream target: a 30 fps video with a model slower than 30 fps — memory flat, capture -> result
latency bounded (no backlog), dropped frames counted. A naive FIFO queue is run beside it.

    python benchmarks/bench_stream.py                   # width-0.25 MSFAN at 224 (random weights), CPU
    python benchmarks/bench_stream.py --model m.onnx --seconds 30

The video is written with OpenCV from clothing-small photos (640x480, MJPG, each photo held
0.5 s). Writes benchmarks/results/stream[_<name>].json and prints a table.
"""
from __future__ import annotations

import argparse
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentile, write_result  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; 0 where unreadable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class MemorySampler:
    def __init__(self, every: float = 0.25) -> None:
        self.every, self.samples = every, []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.perf_counter()
        while not self._stop.wait(self.every):
            self.samples.append((time.perf_counter() - t0, rss_mb()))

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()

    def summary(self, warmup_s: float) -> dict:
        after = [m for t, m in self.samples if t >= warmup_s] or [m for _, m in self.samples]
        return {"after_warmup_mb": round(after[0], 1), "end_mb": round(after[-1], 1),
                "max_mb": round(max(after), 1), "drift_mb": round(after[-1] - after[0], 1)}


def quarters(latencies: list[float]) -> list[dict]:
    parts = np.array_split(np.asarray(latencies, float), 4)
    return [{"p50_ms": round(percentile(p, 50), 1), "p99_ms": round(percentile(p, 99), 1)}
            for p in parts if len(p)]


def make_video(path: Path, seconds: float, fps: float, size=(640, 480)) -> int:
    import cv2

    photos = sorted((DATA / "clothing-small" / "validation").rglob("*.jpg"))
    if not photos:
        raise SystemExit(f"no photos under {DATA / 'clothing-small'}; set up the shared data")
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    n, hold = int(seconds * fps), max(1, int(fps / 2))
    for i in range(n):
        if i % hold == 0:
            img = cv2.resize(cv2.imread(str(photos[(i // hold) % len(photos)])), size)
        w.write(img)
    w.release()
    return n


def default_model(work: Path, width: float, size: int) -> Path:
    import torch

    from edgefashion.export.onnx import export_onnx
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig

    meta = DATA / "deepfashion-meta" / "Anno_coarse"
    if (meta / "list_category_cloth.txt").is_file():
        schema = LabelSchema.from_deepfashion(meta / "list_category_cloth.txt", meta / "list_attr_cloth.txt")
    else:
        schema = LabelSchema.from_folders(DATA / "clothing-small" / "train")
    torch.manual_seed(0)
    model = create_model("msfan", schema.num_categories, schema.num_attributes, width=width,
                         input_size=size).eval()
    path = work / f"msfan_w{width}_{size}.onnx"
    export_onnx(model, schema, PreprocessConfig(input_size=size), path)
    return path


def run_stream(video: Path, predictor, warmup_s: float) -> dict:
    from edgefashion.stream.pipeline import Stream

    with MemorySampler() as mem, Stream(video, predictor) as s:
        for _ in s:
            pass
    d = s.stats.to_dict()
    lat = list(s.stats.latencies_ms)
    return {**d, "latency_by_quarter": quarters(lat), "memory": mem.summary(warmup_s),
            "accounted": d["frames_read"] - d["frames_processed"] - d["frames_dropped"] - d["frames_corrupt"]}


def run_naive_queue(video: Path, predictor, warmup_s: float) -> dict:
    """Baseline: capture at the video's rate into an unbounded FIFO, infer frame after frame."""
    import cv2

    q: queue.Queue = queue.Queue()
    done = threading.Event()

    def capture():
        cap = cv2.VideoCapture(str(video))
        fps, t0, n = cap.get(cv2.CAP_PROP_FPS) or 30.0, time.perf_counter(), 0
        while True:
            time.sleep(max(0.0, t0 + n / fps - time.perf_counter()))
            ok, f = cap.read()
            if not ok:
                break
            q.put((time.perf_counter(), f))
            n += 1
        cap.release()
        done.set()

    lat = []
    with MemorySampler() as mem:
        t = threading.Thread(target=capture, daemon=True)
        t.start()
        while not (done.is_set() and q.empty()):
            try:
                stamp, f = q.get(timeout=0.1)
            except queue.Empty:
                continue
            predictor(f)
            lat.append((time.perf_counter() - stamp) * 1e3)
            if done.is_set():
                break  # the capture ended: stop here, the rest of the backlog is never shown
        backlog = q.qsize()
    return {"frames_processed": len(lat), "backlog_at_end": backlog,
            "latency_p50_ms": round(percentile(lat, 50), 1),
            "latency_p99_ms": round(percentile(lat, 99), 1),
            "latency_by_quarter": quarters(lat), "memory": mem.summary(warmup_s)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help=".onnx / .engine / .pt (default: a fresh MSFAN, see --width)")
    ap.add_argument("--width", type=float, default=0.25, help="of the default MSFAN (wider = slower)")
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--seconds", type=float, default=15.0, help="video length")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds before memory is compared")
    ap.add_argument("--no-baseline", action="store_true", help="skip the naive FIFO queue run")
    ap.add_argument("--name", help="result name suffix")
    ap.add_argument("--json", help="output JSON path")
    args = ap.parse_args(argv)

    from edgefashion.runtime.predictor import Predictor

    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        work = Path(tmp)
        model = Path(args.model) if args.model else default_model(work, args.width, args.input_size)
        video = work / "clip.avi"
        frames = make_video(video, args.seconds, args.fps)
        opts = {"threads": args.threads} if args.threads else {}
        predictor = Predictor(model, **opts)
        x = np.zeros((1, 3, args.input_size, args.input_size), np.float32)
        predictor.infer(x)
        times = []
        for _ in range(10):
            t = time.perf_counter()
            predictor.infer(x)
            times.append((time.perf_counter() - t) * 1e3)
        infer_ms = percentile(times, 50)
        print(f"model {model.name}: inference p50 {infer_ms:.1f} ms = {1e3 / infer_ms:.1f} fps "
              f"(source: {args.fps:.0f} fps, {frames} frames)", file=sys.stderr)
        if infer_ms < 1e3 / args.fps:
            print(f"warning: the model runs faster than the source ({1e3 / infer_ms:.0f} fps); use a "
                  "larger --width or --input-size to test a model slower than the camera", file=sys.stderr)
        stream = run_stream(video, predictor, args.warmup)
        naive = None if args.no_baseline else run_naive_queue(video, predictor, args.warmup)
    result = summarise(args, model, frames, infer_ms, stream, naive)
    print(table(result))
    out = write_result("stream" + (f"_{args.name}" if args.name else ""), result, args.json)
    print(f"wrote {out}")
    return 0


def summarise(args, model: Path, frames: int, infer_ms: float, stream: dict, naive: dict | None) -> dict:
    q = stream["latency_by_quarter"]
    # one result period (inference as measured during the stream) + a frame interval + preprocessing,
    # with room for the jitter of a shared machine: 2 periods + 2 frame intervals + 50 ms
    period = stream["mean_stage_ms"]["inference"] + stream["mean_stage_ms"]["postprocess"]
    bound = 2 * period + 2 * 1e3 / args.fps + 50
    targets = {
        "model_slower_than_source": infer_ms > 1e3 / args.fps,
        "memory_flat": abs(stream["memory"]["drift_mb"]) < 20,
        "latency_bounded": q[-1]["p99_ms"] <= bound and q[-1]["p50_ms"] <= 1.25 * q[0]["p50_ms"] + 10,
        "drops_counted": stream["frames_dropped"] > 0 and 0 <= stream["accounted"] <= 2,
    }
    return {"benchmark": "stream",
            "config": {"model": model.name, "source_fps": args.fps, "frames": frames,
                       "frame_size": [640, 480], "threads": args.threads},
            "model_inference_p50_ms": round(infer_ms, 2), "latency_bound_ms": round(bound, 1),
            "stream": stream, "naive_fifo": naive, "targets": targets,
            "note": "timings on a shared machine are contended; compare ratios measured in one run"}


def table(r: dict) -> str:
    s, n = r["stream"], r["naive_fifo"]
    rows = [("", "Stream (newest frame)", "naive FIFO queue"),
            ("results", s["frames_processed"], n and n["frames_processed"]),
            ("dropped / backlog at end", s["frames_dropped"], n and n["backlog_at_end"]),
            ("latency p50 first -> last quarter (ms)",
             f"{s['latency_by_quarter'][0]['p50_ms']} -> {s['latency_by_quarter'][-1]['p50_ms']}",
             n and f"{n['latency_by_quarter'][0]['p50_ms']} -> {n['latency_by_quarter'][-1]['p50_ms']}"),
            ("latency p99 (ms)", s["latency_p99_ms"], n and n["latency_p99_ms"]),
            ("memory drift after warm-up (MiB)", s["memory"]["drift_mb"], n and n["memory"]["drift_mb"])]
    w = [max(len(str(row[i])) for row in rows) for i in range(3)]
    lines = ["  ".join(str(c).ljust(w[i]) for i, c in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines) + "\ntargets: " + ", ".join(f"{k}={v}" for k, v in r["targets"].items())


if __name__ == "__main__":
    sys.exit(main())
