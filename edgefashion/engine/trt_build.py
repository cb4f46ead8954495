"""The TensorRT part of a build: parse the ONNX, configure, build the plan (thin).

Every decision (which flags, which profile, which buffers) is made by the plain functions in
``plan``, ``profiles`` and ``calibrator``; this module only applies them to TensorRT objects. Every
TensorRT attribute used here is listed in ``trt_compat.TRT_API_USED``.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from edgefashion.engine.calibrator import CalibrationBatches, TrtCalibrationCache, make_entropy_calibrator
from edgefashion.engine.parser_errors import collect_parser_errors, parser_error
from edgefashion.engine.plan import BuildPath
from edgefashion.engine.profiles import ProfileShapes, default_batch, needs_profile, plan_profile
from edgefashion.engine.progress import ProgressPrinter, Ticker, make_progress_monitor
from edgefashion.engine.settings import BuildSettings
from edgefashion.engine.trt_onnx_fixes import adapt_for_tensorrt
from edgefashion.errors import BadInput, ExportError
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.runtime.tensorrt.buffers import as_dtype
from edgefashion.runtime.tensorrt.compat import TrtFeatures, make_logger
from edgefashion.runtime.tensorrt.plugins import load_plugins, resolve_plugins

log = logging.getLogger("edgefashion.engine")


@dataclass
class BuiltPlan:
    plan: bytes
    inputs: dict       # name -> {"shape": [...], "dtype": "float32"}
    outputs: dict
    profiles: dict     # name -> ProfileShapes
    plugins: list
    seconds: float
    calib_images: int = 0
    notes: list = field(default_factory=list)


def build_plan(trt, features: TrtFeatures, settings: BuildSettings, path: BuildPath, source_onnx: Path,
               cuda, printer: ProgressPrinter, log_level: str = "warning", preprocess_cfg=None) -> BuiltPlan:
    """Parse ``source_onnx`` and build a serialized engine following ``path``."""
    logger = make_logger(trt, log_level)
    plugins = load_plugins(trt, logger, resolve_plugins(settings.plugins, features), features)
    builder = trt.Builder(logger)
    flags = 0
    for name in path.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    with tempfile.TemporaryDirectory(prefix="edgefashion-parse-") as tmp:
        # ops this TensorRT's parser lacks (LayerNormalization on 8.5) are rewritten first: trt_onnx_fixes
        parse_path = adapt_for_tensorrt(source_onnx, f"{features.version.major}.{features.version.minor}", tmp)
        parsed = parser.parse_from_file(str(parse_path))
    if not parsed:
        raise parser_error(source_onnx, collect_parser_errors(parser, features.parser_node_names),
                           str(features.version), bool(plugins))
    inputs = _io(network, True)
    outputs = _io(network, False)
    shapes = {n: v["shape"] for n, v in inputs.items()}
    profiles = plan_profile(shapes, settings.batch_range or default_batch(shapes))
    config = builder.create_builder_config()
    _configure(trt, builder, config, settings, path, shapes, profiles)
    with ExitStack() as stack:  # the calibrator (and its device buffer) lives exactly as long as the build
        calib_images = 0
        if path.calibrator:
            calibrator = stack.enter_context(
                _attach_calibrator(trt, builder, config, settings, profiles, needs_profile(shapes),
                                   preprocess_cfg, str(features.version), cuda))
            calib_images = len(calibrator.batches.images) if calibrator.batches is not None else 0
        _load_timing_cache(config, settings.timing_cache)
        start = time.monotonic()
        if features.progress_monitor:
            config.progress_monitor = make_progress_monitor(trt, printer)
            plan = builder.build_serialized_network(network, config)
        else:
            with Ticker("building the engine", enabled=printer.enabled):
                plan = builder.build_serialized_network(network, config)
        seconds = time.monotonic() - start
    if plan is None:
        raise ExportError(
            f"TensorRT {features.version} failed to build an engine from {str(source_onnx)!r} (its log above "
            "says why); common causes: too little workspace (--workspace MB), a layer the chosen precision "
            "or DLA cannot run, or an input shape outside the profile (--batch)"
        )
    _save_timing_cache(config, settings.timing_cache)
    return BuiltPlan(bytes(plan), inputs, outputs, profiles, plugins, seconds, calib_images)


def _io(network, inputs: bool) -> dict:
    count = network.num_inputs if inputs else network.num_outputs
    get = network.get_input if inputs else network.get_output
    out = {}
    for i in range(count):
        tensor = get(i)
        out[tensor.name] = {"shape": [int(d) for d in tensor.shape], "dtype": as_dtype(tensor.dtype).name}
    return out


def _configure(trt, builder, config, settings: BuildSettings, path: BuildPath, shapes: Mapping,
               profiles: Mapping[str, ProfileShapes]) -> None:
    if settings.workspace_mb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace_mb) << 20)
    for name in path.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if needs_profile(shapes):
        profile = builder.create_optimization_profile()
        for name, p in profiles.items():
            profile.set_shape(name, p.min, p.opt, p.max)
        config.add_optimization_profile(profile)
    if settings.dla is not None:
        cores = int(builder.num_DLA_cores)
        if settings.dla >= cores:
            raise BadInput(f"--dla {settings.dla} asks for DLA core {settings.dla}, but this device has {cores} "
                           "DLA cores (Jetson AGX / NX Orin have 2; desktop GPUs none)")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(settings.dla)
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def _attach_calibrator(trt, builder, config, settings: BuildSettings, profiles, dynamic: bool,
                       preprocess_cfg, trt_version: str, cuda):
    if len(profiles) != 1:
        raise BadInput(f"the entropy calibrator feeds one image input; this model has inputs {sorted(profiles)} "
                       "(use --calibrator qdq: edgefashion.precision calibrates multi-input models)")
    name, shapes = next(iter(profiles.items()))
    size = settings.calib_batch if dynamic else shapes.min[0]  # a static model calibrates at its batch
    if preprocess_cfg is None:  # an ONNX without edgefashion metadata: the defaults at its input size
        preprocess_cfg = PreprocessConfig(input_size=int(shapes.opt[-1]))
    batches = None
    if settings.calib:
        from edgefashion.precision.calibration import resolve_images

        batches = CalibrationBatches(resolve_images(settings.calib), preprocess_cfg, size, settings.calib_max)
        if batches.batch_size != size and not dynamic:
            raise BadInput(f"the model has a static batch of {size}; give at least {size} calibration images")
        size = batches.batch_size
    cache = None
    if settings.calib_cache:
        cache = TrtCalibrationCache(settings.calib_cache, settings.onnx, preprocess_cfg, trt_version, size,
                                    batches.images if batches is not None else None)
    if batches is None and (cache is None or cache.read() is None):
        raise BadInput(f"no calibration images (--calib DIR) and no valid TensorRT calibration in "
                       f"{settings.calib_cache!r} for this model and preprocessing; pass --calib with real photos")
    calibrator = make_entropy_calibrator(trt, batches, name, cache, cuda)
    with calibrator.closing_on_error():  # its device buffer goes back if configuring it fails
        config.int8_calibrator = calibrator
        if dynamic:
            shape = (size, *shapes.opt[1:])
            cprofile = builder.create_optimization_profile()
            cprofile.set_shape(name, shape, shape, shape)
            config.set_calibration_profile(cprofile)
    return calibrator


def read_timing_cache(path: str | None) -> bytes:
    """The bytes of a timing cache file, or b"" (a fresh cache) when there is none or it is damaged.

    A cache written by edgefashion has ``<cache>.sha256`` beside it; bytes that do not match (a write cut
    short, a truncated copy) are refused here with a warning naming the file, before TensorRT sees them.
    A cache without one (from trtexec --timingCacheFile) goes to TensorRT as it is.
    """
    if not path or not Path(path).is_file():
        return b""
    data = Path(path).read_bytes()
    digest = Path(str(path) + ".sha256")
    if digest.is_file() and digest.read_text().strip() != hashlib.sha256(data).hexdigest():
        log.warning("timing cache %s is damaged (%d bytes, not the ones its .sha256 records); starting a fresh "
                    "one (the build takes longer; the file is rewritten after it)", path, len(data))
        return b""
    return data


def write_timing_cache(path: str, data: bytes) -> None:
    """Write the cache atomically (temp file + rename) with its sha256 beside it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    Path(str(target) + ".sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")


def _load_timing_cache(config, path: str | None) -> None:
    """Hand the cache to TensorRT. ``create_timing_cache`` returns null for bytes TensorRT cannot read;
    NVIDIA's helper (shared/utils/cacheUtils.cpp, ``buildTimingCacheFromFile``) checks that, and so do we:
    a fresh cache, with a warning naming the file, never a crash."""
    data = read_timing_cache(path)
    timing = config.create_timing_cache(data)
    if timing is None and data:
        log.warning("TensorRT could not read the timing cache %s (%d bytes: truncated, or not a timing cache); "
                    "starting a fresh one", path, len(data))
        timing = config.create_timing_cache(b"")
    if timing is None:
        raise ExportError("TensorRT could not create an empty timing cache (out of memory?)")
    if not config.set_timing_cache(timing, False):
        log.warning("timing cache %s was made on another GPU or TensorRT; starting a fresh one", path)
        config.set_timing_cache(config.create_timing_cache(b""), False)


def _save_timing_cache(config, path: str | None) -> None:
    if not path:
        return
    timing = config.get_timing_cache()
    write_timing_cache(path, bytes(memoryview(timing.serialize())))
    log.info("saved the timing cache %s", path)
