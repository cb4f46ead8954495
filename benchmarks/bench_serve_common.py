"""Shared by bench_serve_batching.py and soak.py: a real MSFAN whose answers differ per photo, the
`edgefashion serve` command as a child process, keep-alive HTTP clients, answer checking.

The model: MSFAN with random weights (torch seed 0), each conv / linear layer rescaled LSUV-style
on real clothing-small training photos, so its scores vary with the image and a mixed-up answer
is visible (a plain random init answers almost the same for every photo). Exported to ONNX with
the project's exporter, served by ONNX Runtime.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edgefashion.timing import percentile

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EDGEFASHION_DATA", REPO.parent / "shared" / "data"))
TOL = 1e-4  # an answer matches a reference when every score is within this
LAUNCH = ("import argparse, sys\n"
          "from edgefashion.cli import serve\n"
          "sub = argparse.ArgumentParser(prog='edgefashion').add_subparsers()\n"
          "serve.add_parser(sub)\n"
          "args = sub.choices['serve'].parse_args(sys.argv[1:])\n"
          "sys.exit(args.run(args))\n")


def photos(split: str = "validation", n: int = 40, step: int = 9) -> list[Path]:
    found = sorted((DATA / "clothing-small" / split).rglob("*.jpg"))
    if not found:
        raise SystemExit(f"no photos under {DATA / 'clothing-small'}; set EDGEFASHION_DATA")
    return found[::step][:n]


def build_model(work: Path, width: float, size: int, seed: int = 0) -> Path:
    """The LSUV-scaled random-weight MSFAN (see the module docstring) as ONNX."""
    import torch

    sys.path.insert(0, str(REPO / "tests" / "runtime"))
    from runtime_helpers import lsuv_

    from edgefashion.export.onnx import export_onnx
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig, preprocess
    from edgefashion.runtime.images import load_image

    schema = LabelSchema.from_folders(DATA / "clothing-small" / "train")
    prep = PreprocessConfig(input_size=size)
    calib = np.stack([preprocess(load_image(str(p)), prep) for p in photos("train", 16, 97)])
    torch.manual_seed(seed)
    model = create_model("msfan", schema.num_categories, schema.num_attributes, width=width,
                         input_size=size).eval()
    lsuv_(model, torch.from_numpy(calib))
    path = work / f"msfan_w{width}_{size}_lsuv.onnx"
    export_onnx(model, schema, prep, path)
    return path


def answer_vector(d: dict) -> tuple[tuple, np.ndarray]:
    """(category names in rank order, [their probabilities..., attribute scores...]) of a JSON answer."""
    top = d["category"]["top"]
    return (tuple(n for n, _ in top),
            np.array([p for _, p in top] + [d["scores"][k] for k in sorted(d["scores"])], float))


def reference(pred, top_k: int = 5) -> tuple[tuple, np.ndarray]:
    """The same vector from a Predictor's own Prediction."""
    return answer_vector({"category": {"top": [list(x) for x in pred.category.ranked[:top_k]]},
                          "scores": pred.scores})


def judge(d: dict, own, refs: dict) -> str:
    """"ok" (matches its own photo's reference), "mixed" (matches another photo's), or "wrong"."""
    names, v = answer_vector(d)
    same = lambda r: names == r[0] and np.abs(v - r[1]).max() <= TOL  # noqa: E731
    if same(refs[own]):
        return "ok"
    return "mixed" if any(same(r) for k, r in refs.items() if k != own) else "wrong"


def min_pairwise_distance(refs: dict) -> float:
    """The smallest max-abs difference between two photos' references: how far apart answers are."""
    vs = [r[1] for r in refs.values()]
    return float(min(np.abs(a - b).max() for i, a in enumerate(vs) for b in vs[i + 1:]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_process(model: Path, args: Sequence[str] = (), source: Path | None = None
                  ) -> Iterator[tuple[str, subprocess.Popen]]:
    """`edgefashion serve --model M ARGS` on a free port; yields ("127.0.0.1:port", process).

    The child runs the serve command's own parser and run() (edgefashion/cli/serve.py), so a long
    run does not depend on every other subcommand importing cleanly."""
    port = free_port()
    cmd = [sys.executable, "-c", LAUNCH, "--model", str(model), "--port", str(port),
           *map(str, args)]
    if source is not None:
        cmd += ["--source", str(source), "--loop"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    host = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited: {proc.stderr.read()[-2000:]}")
            try:
                get_json(host, "/health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("serve did not answer /health within 120 s")
                time.sleep(0.2)
        yield host, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def get_json(host: str, path: str) -> dict:
    conn = http.client.HTTPConnection(host, timeout=60)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


class Client:
    """One keep-alive connection, as a browser or a kiosk would hold; reopened after an error.

    Like urllib3, a request that finds its reused connection already closed by the server (uvicorn
    closes one idle for 5 s, which happens when this client's thread is starved) is sent once more
    on a new connection; ``stale_retries`` counts those, ``errors`` keeps every failure's message."""

    STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

    def __init__(self, host: str, timeout: float = 300) -> None:
        self.host, self.timeout = host, timeout
        self.conn: http.client.HTTPConnection | None = None
        self.used = False
        self.stale_retries = 0
        self.errors: list[str] = []

    def post(self, data: bytes) -> tuple[int, dict, dict, float]:
        """(status, JSON body, headers, milliseconds); status -1 when the connection failed."""
        t = time.perf_counter()
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn, self.used = http.client.HTTPConnection(self.host, timeout=self.timeout), False
                self.conn.request("POST", "/predict", body=data,
                                  headers={"Content-Type": "image/jpeg"})
                r = self.conn.getresponse()
                body = json.loads(r.read() or b"{}")
                self.used = True
                return r.status, body, dict(r.getheaders()), (time.perf_counter() - t) * 1e3
            except (OSError, http.client.HTTPException, ValueError) as e:
                stale = isinstance(e, self.STALE) and self.used and attempt == 0
                self.close()
                if stale:
                    self.stale_retries += 1
                    continue
                self.errors.append(f"{type(e).__name__}: {e}")
                return -1, {"error": {"type": type(e).__name__, "message": str(e)}}, {}, 0.0
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    return memory_mb(pid)[0]


def memory_mb(pid: int | str = "self") -> tuple[float, float]:
    """(VmRSS, RssAnon) of a process in MiB. RssAnon is its private heap: what a leak grows, and
    what the kernel cannot drop under memory pressure (RSS also counts mapped library pages)."""
    vals = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "RssAnon:")):
            vals[line.split(":")[0]] = int(line.split()[1]) / 1024
    return vals.get("VmRSS", 0.0), vals.get("RssAnon", 0.0)


def percentiles(ms: Sequence[float]) -> dict:
    if not len(ms):
        return {"p50_ms": None, "p99_ms": None}
    return {"p50_ms": round(percentile(ms, 50), 2),
            "p99_ms": round(percentile(ms, 99), 2)}
