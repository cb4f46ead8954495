"""``build_engine``: ONNX -> TensorRT engine + ``model.engine.json``, adapted to the TensorRT found.

    from edgefashion.engine import build_engine
    result = build_engine("model.onnx", "model.engine", precision="int8", batch="1:8:32",
                          calib="photos/", check_images="val/")

Steps: pick the build path for this TensorRT (``plan.select_build_path``); convert the fp32 ONNX to
fp16 / Q/DQ int8 with ``edgefashion.precision`` first where the path says so (that step has its own
accuracy gate); build (``trt_build``); write the engine beside its final name; check it (engine vs ONNX
on ``check_images`` with the accuracy gate, and the embedded self-test); only then move it over the old
engine and write the sidecar. A failed check leaves the old engine as it was.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from edgefashion.engine.plan import BuildPath, detect_onnx_precision, select_build_path
from edgefashion.engine.progress import ProgressPrinter
from edgefashion.engine.settings import BuildSettings
from edgefashion.engine.sidecar import check_source, make_sidecar, recorded_settings, settings_of, write_sidecar
from edgefashion.engine.trt_build import build_plan
from edgefashion.errors import ModelFileError
from edgefashion.runtime.metadata import preprocess_from_metadata, read_onnx_metadata, sidecar_path
from edgefashion.runtime.tensorrt.compat import import_tensorrt, probe_features
from edgefashion.runtime.tensorrt.cuda import open_cuda
from edgefashion.runtime.tensorrt.sidecar import EngineInfo, GpuInfo, sha256_file

log = logging.getLogger("edgefashion.engine")


@dataclass
class BuildResult:
    engine: Path
    sidecar: Path
    info: EngineInfo
    path: BuildPath
    source_onnx: Path          # what TensorRT parsed (the converted ONNX when the path converted it)
    accuracy: dict | None


def build_engine(onnx: str | Path, output: str | Path, precision: str = "auto", batch: str | None = None,
                 workspace_mb: int | None = None, timing_cache: str | None = None, plugins=(),
                 dla: int | None = None, calib: str | None = None, calib_cache: str | None = None, *,
                 progress: bool = True, log_level: str = "warning", device: int = 0, self_test: bool = True,
                 **more) -> BuildResult:
    """Build ``output`` from ``onnx``; see BuildSettings for the options (``more``: calib_batch,
    calib_max, calibrator, check_images, num_check, max_drop). ``self_test``: run the reference set
    embedded in the ONNX metadata (when there is one) on the new engine before keeping it."""
    settings = BuildSettings(onnx=str(onnx), output=str(output), precision=precision, batch=batch,
                             workspace_mb=workspace_mb, timing_cache=timing_cache, plugins=tuple(plugins),
                             dla=dla, calib=calib, calib_cache=calib_cache, **more)
    return build_from_settings(settings, progress=progress, log_level=log_level, device=device,
                               self_test=self_test)


def build_from_settings(settings: BuildSettings, progress: bool = True, log_level: str = "warning",
                        device: int = 0, self_test: bool = True, converted: Path | None = None) -> BuildResult:
    """The build; ``converted``: an fp16 / Q/DQ ONNX made from ``settings.onnx`` by an earlier build,
    used instead of converting again (a rebuild needs no calibration images then)."""
    settings = settings.resolved()
    onnx, out = Path(settings.onnx), Path(settings.output)
    if not onnx.is_file():
        raise ModelFileError(f"ONNX model {str(onnx)!r} does not exist; export one with `edgefashion export`")
    trt = import_tensorrt("build TensorRT engines")
    features = probe_features(trt)
    path = select_build_path(features, settings.precision, detect_onnx_precision(onnx), settings.calibrator,
                             bool(settings.calib or settings.calib_cache), settings.dla is not None)
    if (path.calibrator or path.quantize_to == "int8") and not settings.calib_cache:
        settings = replace(settings, calib_cache=str(out) + ".calib.json")  # kept for rebuilds
    for note in path.notes:
        log.info(note)
    cuda = open_cuda(device)
    gpu = GpuInfo(*cuda.device_info())
    source, quant_report = onnx, None
    if path.quantize_to and converted is not None:
        source = converted
    elif path.quantize_to:
        source, quant_report = _quantize_first(settings, path.quantize_to, progress)
    meta = read_onnx_metadata(source) or read_onnx_metadata(onnx)
    built = build_plan(trt, features, settings, path, source, cuda, ProgressPrinter(enabled=progress),
                       log_level, preprocess_from_metadata(meta))
    tmp = out.with_name(f".{out.name}.{os.getpid()}.building.engine")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(built.plan)
    try:
        info = _engine_info(settings, path, built, out, tmp, trt.__version__, gpu, quant_report,
                            source if source != onnx else None)
        sidecar = _sidecar(meta, info)
        write_sidecar(tmp, sidecar)
        accuracy = _check(settings, tmp, sidecar, path.precision, self_test)
        info = replace(info, accuracy={**(info.accuracy or {}), **accuracy} if accuracy else info.accuracy)
        os.replace(tmp, out)
        side = write_sidecar(out, _sidecar(meta, info))
    finally:
        for p in (tmp, sidecar_path(tmp)):
            if p.exists():
                p.unlink()
    log.info("wrote %s (%s, %s path, %.1f s)", out, path.precision, path.name, built.seconds)
    return BuildResult(out, side, info, path, source, info.accuracy)


def _quantize_first(settings: BuildSettings, precision: str, progress: bool) -> tuple[Path, dict]:
    """The fp32 ONNX -> an fp16 / Q/DQ int8 ONNX beside the engine (edgefashion.precision, gated)."""
    from edgefashion.precision import QuantizeOptions, quantize_onnx

    dst = Path(settings.output).with_suffix(f".{precision}.onnx")
    options = QuantizeOptions(max_drop=settings.max_drop, progress=progress,
                              eval_images=settings.check_images or None)
    if precision == "int8":
        options = options.with_(calib=settings.calib, calib_size=settings.calib_max,
                                calib_cache=settings.calib_cache or "auto")
    return dst, quantize_onnx(settings.onnx, dst, precision, options)


def _engine_info(settings, path: BuildPath, built, out: Path, tmp: Path, trt_version: str, gpu: GpuInfo,
                 quant_report, converted: Path | None) -> EngineInfo:
    import edgefashion

    cache = settings.calib_cache if settings.calib_cache and Path(settings.calib_cache).is_file() else None
    notes = list(path.notes) + built.notes
    return EngineInfo(
        file=out.name, sha256=sha256_file(tmp), size=tmp.stat().st_size, precision=path.precision,
        build_path=path.name, tensorrt_version=trt_version, gpu_name=gpu.name,
        compute_capability=gpu.compute_capability,
        profiles={n: p.to_dict() for n, p in built.profiles.items()},
        io={"inputs": built.inputs, "outputs": built.outputs}, **recorded_settings(settings),
        source_onnx=settings.onnx, source_onnx_sha256=sha256_file(settings.onnx),
        calib_cache=cache, calib_cache_sha256=sha256_file(cache) if cache else None,
        plugins=tuple(built.plugins), accuracy={"quantize": _summary(quant_report)} if quant_report else None,
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=round(built.seconds, 2), edgefashion_version=edgefashion.__version__, notes=tuple(notes),
        built_from=str(converted) if converted else None,
        built_from_sha256=sha256_file(converted) if converted else None,
    )


def _sidecar(meta: Mapping | None, info: EngineInfo) -> dict:
    """The ONNX metadata + engine section; its "precision" says the engine's (the self-test tolerance)."""
    side = make_sidecar(meta, info)
    block = side.get("precision")
    side["precision"] = {**block, "precision": info.precision} if isinstance(block, Mapping) else info.precision
    return side


def _check(settings: BuildSettings, engine: Path, sidecar: Mapping, precision: str, self_test: bool) -> dict:
    """Engine vs its ONNX on ``check_images`` (accuracy gate) and the embedded self-test; raises on failure."""
    from edgefashion.runtime.backends.tensorrt import TensorRTBackend

    out: dict = {}
    if not settings.check_images and not (self_test and sidecar.get("self_test")):
        return out
    backend = TensorRTBackend(engine)
    try:
        if settings.check_images:
            from edgefashion.engine.check import engine_vs_onnx

            out["engine_vs_onnx"] = engine_vs_onnx(settings.onnx, backend, settings.check_images,
                                                   settings.num_check, settings.max_drop, precision)
        if self_test and sidecar.get("self_test"):
            from edgefashion.runtime.selftest import run_self_test

            out["self_test"] = run_self_test(backend, sidecar, precision)
    finally:
        backend.close()
    return out


def rebuild_engine(engine_path: str | Path, info: EngineInfo, device: int = 0, progress: bool = False) -> BuildResult:
    """Rebuild an engine from the ONNX (and calibration cache) its sidecar points to, with the recorded
    settings. The old engine is replaced only when the new one passes its checks. The signature is the one
    ``TensorRTBackend(rebuild_on_mismatch=...)`` calls: (engine path, EngineInfo, device)."""
    check_source(info)
    settings = replace(settings_of(info), output=str(Path(engine_path).resolve()))
    converted = Path(info.built_from) if info.built_from else None
    if converted is not None and not (converted.is_file() and sha256_file(converted) == info.built_from_sha256):
        converted = None  # gone or changed: convert the source ONNX again
    log.warning("rebuilding %s for this GPU / TensorRT: %s", engine_path, settings.to_command())
    start = time.monotonic()
    result = build_from_settings(settings, progress=progress, device=device, self_test=True, converted=converted)
    log.warning("rebuilt %s in %.0f s", engine_path, time.monotonic() - start)
    return result


def _summary(result: Mapping) -> dict:
    """What the sidecar keeps of quantize_onnx's result (its full report is in the ONNX metadata)."""
    keep = ("precision", "output", "keep_fp32", "eval", "accuracy", "self_test", "report_path")
    return {k: result[k] for k in keep if k in result}
