"""The latency suite: every variant x every batch size, plus cold start; one JSON-able result.

    result = run_suite("model.pt", variants="pytorch,onnxruntime,onnxruntime:int8", batches=(1, 8))

Result layout (``format: "edgefashion-bench"``, checked by ``report.validate_result``):
{"format", "format_version", "benchmark", "model": {...}, "settings": {...}, "environment": {...},
 "variants": [Variant.to_dict()], "results": [one row per variant x batch], "cold_start": [...],
 "skipped": [{"variant", "reason"}]}
"""
from __future__ import annotations

import gc
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from edgefashion.bench.coldstart import cold_start
from edgefashion.bench.env import capture_environment
from edgefashion.bench.inputs import load_inputs, synthetic_jpeg
from edgefashion.bench.latency import bench_predictor
from edgefashion.bench.variants import (
    Variant,
    VariantBuilder,
    open_predictor,
    parse_variants,
)
from edgefashion.errors import BadInput, EdgeFashionError

FORMAT = "edgefashion-bench"
FORMAT_VERSION = 1


def parse_batches(spec: str | Sequence[int]) -> list[int]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    try:
        out = [int(b) for b in items if str(b).strip()]
    except ValueError as e:
        raise BadInput(f"batch sizes {spec!r} must be integers like 1,8,32") from e
    if not out or min(out) < 1:
        raise BadInput(f"batch sizes {spec!r} must be integers >= 1, e.g. 1,8,32")
    return out


def run_suite(model: str | Path, variants: str | Sequence[str] | None = None,
              batches: str | Sequence[int] = (1,), warmup: int = 3, iters: int = 20,
              threads: int | None = None, device: str | None = None, images: Sequence[Path] = (),
              input_mode: str = "bytes", max_seconds: float | None = None,
              cold_start_runs: int = 0, workdir: str | Path | None = None,
              calib: Sequence[Path] = (), benchmark: str = "latency",
              log: Callable[[str], None] = lambda s: None) -> dict:
    """Benchmark ``model`` (.pt / .onnx / .engine) on each variant; see the module docstring.

    images: real photos (empty: one synthetic photo). calib: photos for int8 calibration.
    cold_start_runs: fresh processes per variant (0 = no cold start). max_seconds: time budget per
    (variant, batch) after which fewer than ``iters`` iterations are kept (at least 3).
    """
    batch_list = parse_batches(batches)
    requested = parse_variants(variants, model)
    inputs, desc = load_inputs(list(images), input_mode)
    with tempfile.TemporaryDirectory(prefix="edgefashion-bench-") as tmp:
        work = Path(workdir) if workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        builder = VariantBuilder(model, work, calib=calib, check_images=list(images),
                                 max_batch=max(batch_list), log=log)
        built = builder.build(requested)
        image_file = _image_file(images, work)
        rows, colds, skipped = [], [], []
        for v in built:
            if v.skipped:
                log(f"skip {v.name}: {v.skipped}")
                skipped.append({"variant": v.name, "reason": v.skipped})
                continue
            try:
                rows += _bench_variant(v, inputs, batch_list, warmup, iters, threads, device,
                                       max_seconds, log)
                if cold_start_runs:
                    log(f"{v.name}: cold start x{cold_start_runs}")
                    cs = cold_start(v.path, image_file, v.spec, device, threads, cold_start_runs)
                    colds.append({"variant": v.name, **cs})
            except (EdgeFashionError, ImportError, RuntimeError, OSError) as e:
                log(f"skip {v.name}: {type(e).__name__}: {e}")
                skipped.append({"variant": v.name, "reason": f"{type(e).__name__}: {e}"})
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "benchmark": benchmark,
        "model": model_info(model),
        "settings": {"batches": batch_list, "warmup": int(warmup), "iters": int(iters),
                     "max_seconds": max_seconds, "threads": threads, "device": device or "default",
                     "input": desc, "input_mode": input_mode, "cold_start_runs": int(cold_start_runs)},
        "environment": capture_environment(),
        "variants": [v.to_dict() for v in built],
        "results": rows, "cold_start": colds, "skipped": skipped,
    }


def _bench_variant(v: Variant, inputs, batches, warmup, iters, threads, device, max_seconds, log):
    predictor = open_predictor(v.path, v.spec, device, threads, batch_size=max(batches))
    rows = []
    try:
        for b in batches:
            log(f"{v.name}: batch {b} ({warmup} warm-up + up to {iters} iterations)")
            r = bench_predictor(predictor, inputs, b, warmup, iters, max_seconds)
            rows.append({"variant": v.name, "backend": v.backend, "precision": v.precision,
                         "device": predictor.backend.device, "model_file": v.path, **r})
            log("  " + row_summary(rows[-1]))
    finally:
        predictor.close()
        del predictor
        gc.collect()
    return rows


def row_summary(r: dict) -> str:
    lat, ov = r["latency_ms"], r["overhead"]
    return (f"p50 {lat['p50']:.2f} ms  p90 {lat['p90']:.2f}  p99 {lat['p99']:.2f}  "
            f"{r['throughput_ips']:.1f} img/s  pre+post+py {100 * (ov['pre_post_python_fraction'] or 0):.1f}%")


def _image_file(images: Sequence[Path], work: Path) -> Path:
    """One image file for the cold-start child (a real one, else the synthetic JPEG)."""
    if images:
        return Path(images[0])
    path = work / "synthetic.jpg"
    path.write_bytes(synthetic_jpeg())
    return path


def model_info(model: str | Path) -> dict:
    """File name, size and (from the edgefashion metadata, when readable) model name and config."""
    p = Path(model)
    info = {"path": str(p), "file": p.name, "size_mib": round(p.stat().st_size / 2**20, 2)}
    meta = None
    try:
        if p.suffix.lower() == ".onnx":
            from edgefashion.runtime.metadata import read_onnx_metadata

            meta = read_onnx_metadata(p)
        elif p.suffix.lower() in (".engine", ".plan"):
            from edgefashion.runtime.metadata import read_sidecar

            meta = read_sidecar(p)
        elif p.suffix.lower() in (".pt", ".pth"):
            from edgefashion.models.checkpoint import read_checkpoint

            raw = read_checkpoint(p)
            meta = {"model": raw.get("model"), "model_config": raw.get("model_config")}
    except (EdgeFashionError, ImportError, OSError):
        meta = None
    if meta:
        info["name"] = meta.get("model")
        info["config"] = meta.get("model_config")
    return info
