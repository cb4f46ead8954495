"""Our OpenCV preprocessing vs a PIL + torchvision transforms pipeline doing the same thing.

Both turn the same encoded JPEG bytes into the same (3, S, S) float32 tensor: decode -> RGB ->
stretch-resize to S x S -> /255 -> (x - mean) / std. Measured side by side in one run (rounds
alternate, each per-image time is the best round), split into decode and the rest, and the two
tensors are compared numerically. Target: ours >= 3x faster end to end (decode included).

    python benchmarks/bench_preprocess.py --threads 1

Writes benchmarks/results/preprocess.json (machine, versions, date) and prints a table.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

TARGET = 3.0


def pipelines(cfg):
    """name -> (decode(bytes) -> image, transform(image) -> (3, S, S) float32 array)."""
    import cv2
    from PIL import Image
    from torchvision import transforms as T

    from edgefashion.runtime.images import decode_image
    from edgefashion.runtime.preprocess import preprocess

    s = cfg.input_size
    tv = T.Compose([T.Resize((s, s)), T.ToTensor(), T.Normalize(cfg.mean, cfg.std)])

    def pil_decode(b: bytes):
        return Image.open(io.BytesIO(b)).convert("RGB")

    def two_step(img):  # candidate: linear to 2S x 2S, then the fast integer 2x INTER_AREA path
        big = cv2.resize(img, (2 * s, 2 * s), interpolation=cv2.INTER_LINEAR)
        return preprocess(cv2.resize(big, (s, s), interpolation=cv2.INTER_AREA), cfg)

    return {
        "edgefashion (OpenCV)": (decode_image, lambda img: preprocess(img, cfg)),
        "PIL + torchvision": (pil_decode, lambda img: tv(img).numpy()),
        "candidate: OpenCV 2-step resize": (decode_image, two_step),
    }


def measure(blobs: list[bytes], pipes: dict, rounds: int) -> dict:
    """Best-of-rounds mean milliseconds per image for decode, transform and both, per pipeline."""
    best: dict[str, dict[str, float]] = {n: {"decode": 1e9, "transform": 1e9, "total": 1e9} for n in pipes}
    for _ in range(rounds):
        for name, (decode, transform) in pipes.items():
            t0 = time.perf_counter()
            imgs = [decode(b) for b in blobs]
            t1 = time.perf_counter()
            for img in imgs:
                transform(img)
            t2 = time.perf_counter()
            for b in blobs:
                transform(decode(b))
            t3 = time.perf_counter()
            n = len(blobs)
            for k, v in (("decode", t1 - t0), ("transform", t2 - t1), ("total", t3 - t2)):
                best[name][k] = min(best[name][k], v / n * 1e3)
    return best


def closeness(blobs: list[bytes], pipes: dict, std) -> dict:
    """Max / mean absolute difference of each pipeline's tensor from ours (normalised units and
    0..255 pixel levels)."""
    ref_dec, ref_tf = pipes["edgefashion (OpenCV)"]
    out = {}
    for name, (decode, transform) in pipes.items():
        if name.startswith("edgefashion"):
            continue
        diffs = [np.abs(np.asarray(transform(decode(b))) - ref_tf(ref_dec(b))) for b in blobs]
        d = np.stack(diffs)
        px = d * (255.0 * np.asarray(std, np.float32)[None, :, None, None])
        out[name] = {"max_abs": float(d.max()), "mean_abs": float(d.mean()),
                     "max_abs_pixels": float(px.max()), "mean_abs_pixels": float(px.mean()),
                     "p99_abs_pixels": float(np.percentile(px, 99))}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", help="photos (default: clothing-small/validation)")
    ap.add_argument("--num-images", type=int, default=64)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="OpenCV and torch threads (default 1)")
    ap.add_argument("--json", help="output JSON path")
    args = ap.parse_args(argv)

    import cv2
    import torch

    from edgefashion.bench.env import capture_environment
    from edgefashion.bench.inputs import default_image_dir, image_paths, synthetic_jpeg
    from edgefashion.runtime.preprocess import PreprocessConfig

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    src = args.images or default_image_dir()
    paths = image_paths(src, args.num_images) if src else []
    blobs = [p.read_bytes() for p in paths] or [synthetic_jpeg()]
    cfg = PreprocessConfig(input_size=args.input_size)
    pipes = pipelines(cfg)
    best = measure(blobs, pipes, args.rounds)
    close = closeness(blobs[:16], pipes, cfg.std)
    ours, pil = best["edgefashion (OpenCV)"], best["PIL + torchvision"]
    speedup = {k: pil[k] / ours[k] for k in ours}
    print(f"{len(blobs)} images ({'real' if paths else 'synthetic'}), {args.threads} thread(s), "
          f"best of {args.rounds} rounds, ms per image")
    print(f"{'pipeline':<34}{'decode':>9}{'transform':>11}{'total':>9}{'PIL/this':>10}")
    for name, t in best.items():
        print(f"{name:<34}{t['decode']:>9.3f}{t['transform']:>11.3f}{t['total']:>9.3f}"
              f"{pil['total'] / t['total']:>9.2f}x")
    for name, c in close.items():
        print(f"vs ours, {name}: max |diff| {c['max_abs_pixels']:.1f} px levels, mean "
              f"{c['mean_abs_pixels']:.2f}, p99 {c['p99_abs_pixels']:.1f}")
    met = speedup["total"] >= TARGET
    print(f"target: ours >= {TARGET}x faster than PIL + torchvision end to end: "
          f"{speedup['total']:.2f}x -> {'met' if met else 'NOT met'} "
          f"(transform only, decode excluded: {speedup['transform']:.2f}x)")
    out = write_result("preprocess", {
        "format": "edgefashion-bench-target", "benchmark": "preprocess",
        "target": f"OpenCV preprocessing >= {TARGET:g}x faster than PIL + torchvision (decode + "
                  f"resize + normalise, {args.input_size}x{args.input_size})",
        "measured": speedup["total"], "met": met,
        "measured_text": f"{speedup['total']:.2f}x end to end ({ours['total']:.2f} vs {pil['total']:.2f} "
                         f"ms/image); {speedup['transform']:.2f}x without decode",
        "settings": {"images": len(blobs), "real_images": bool(paths), "rounds": args.rounds,
                     "threads": args.threads, "input_size": args.input_size},
        "ms_per_image": best, "speedup": speedup, "closeness": close,
        "environment": capture_environment(),
    }, args.json)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
