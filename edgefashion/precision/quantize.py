"""``quantize_onnx``: fp32 ONNX -> fp16 / int8 ONNX, checked against the fp32 model before it is written.

    result = quantize_onnx("model.onnx", "model.int8.onnx", "int8", calib="photos/")

1. the candidate is built in a temporary folder beside the output (fp16.py / int8.py);
2. fp32 and candidate run on the evaluation images (ONNX Runtime CPU) -> accuracy report;
3. the gate (top-1 agreement, ``max_drop`` points of top-3 accuracy, per-output cosine bounds:
   see precision/gate.py) and the self-test on the candidate must pass;
4. only then the output replaces the old file (atomically), with the report in its metadata under
   "precision" and the fp32 reference set under "self_test", and the report is saved as JSON.
A failure raises (AccuracyGateError, SelfTestError, ...) and leaves the old output untouched.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from edgefashion.errors import BadInput, MissingMetadata
from edgefashion.precision import calibration as cal
from edgefashion.precision import int8 as q8
from edgefashion.precision.accuracy import accuracy_report, collect_outputs
from edgefashion.precision.gate import (DEFAULT_MAX_DROP, DEFAULT_MIN_AGREEMENT, GateRules,
                                        check_max_drop, enforce)
from edgefashion.runtime import selftest
from edgefashion.runtime.backends.base import check_model_file
from edgefashion.runtime.metadata import preprocess_from_metadata, read_onnx_metadata, schema_from_metadata
from edgefashion.runtime.preprocess import preprocess_batch

PRECISIONS = ("fp16", "int8")
DEFAULT_KEEP_FP32 = {"fp16": (), "int8": ("first-conv", "heads")}
# int8 defaults for an EfficientNet-Lite backbone (msfan_lite, or a student on a Lite backbone),
# measured on clothing-small/validation (benchmarks/int8_settings.py, results/int8_settings_*.json):
# its first two stages (stride 2 and 4) and the gate convs carry most of the int8 drift, and the
# linear-bottleneck outputs have rare large activations that minmax ranges waste int8 steps on.
# MSFAN's defaults (minmax, first conv and heads) gave 98.0 % top-1 agreement on msfan_lite
# at 192 px; these gave 99.7 %.
LITE_INT8_DEFAULTS = {"keep_fp32": ("first-conv", "heads", "gates", "*blocks.0.*", "*blocks.1.*"),
                      "method": "entropy"}
NOISE_EVAL_IMAGES = 16


def default_output(src: str | Path, precision: str) -> Path:
    """``model.onnx`` -> ``model.int8.onnx``."""
    src = Path(src)
    return src.with_name(f"{src.stem}.{precision}.onnx")


def int8_defaults(meta: dict) -> dict:
    """The int8 keep-fp32 patterns and calibration method for the model ``meta`` describes, and
    what they were chosen for ("efficientnet_lite" or "default")."""
    backbone = str((meta.get("model_config") or {}).get("backbone") or "")
    if meta.get("model") == "msfan_lite" or backbone.startswith("efficientnet_lite"):
        return {**LITE_INT8_DEFAULTS, "for": "efficientnet_lite"}
    return {"keep_fp32": DEFAULT_KEEP_FP32["int8"], "method": q8.DEFAULT_METHOD, "for": "default"}


def report_path_for(dst: str | Path) -> Path:
    """``x.onnx`` -> ``x.onnx.report.json``."""
    dst = Path(dst)
    return dst.with_name(dst.name + ".report.json")


def quantize_onnx(src: str | Path, dst: str | Path | None = None, precision: str = "fp16", *,
                  calib=None, method: str | None = None, calib_size: int | None = 256,
                  calib_cache: str | Path | None = "auto", keep_fp32: Sequence[str] | None = None,
                  eval_images=None, eval_size: int | None = 500,
                  max_drop: float | None = DEFAULT_MAX_DROP,
                  min_agreement: float = DEFAULT_MIN_AGREEMENT, fp16_io: bool = False,
                  batch_size: int = 8, calib_batch_size: int | None = None, threads: int | None = None,
                  report_path: str | Path | None = "auto", percentile: float = q8.DEFAULT_PERCENTILE,
                  quant_format: str = "qdq", activations: str = "int8", fp16_rounding: str = "auto",
                  self_test_images: int = selftest.DEFAULT_IMAGES, progress: bool = True, log: Callable[[str], None] | None = None) -> dict:
    """Make the ``precision`` version of ``src`` at ``dst`` (default ``<stem>.<precision>.onnx``).

    calib: images (folder, list file, glob or list of paths) - required for int8; for fp16 they
    drive ``fp16_rounding`` ("auto": calibrated when given, precision/fp16_rounding.py; "nearest";
    "calibrated": requires them);
    method: the int8 calibration method; method and keep_fp32 default to the model's own
    (``int8_defaults``: ``LITE_INT8_DEFAULTS`` for an EfficientNet-Lite backbone, else minmax and
    ``DEFAULT_KEEP_FP32``);
    calib_cache: "auto" (``<dst>.calib.json``), a path, or None (no cache); keep_fp32: presets /
    patterns (see precision.graph.resolve_patterns); eval_images:
    default the calibration images not used for calibration, else the calibration images, else
    seeded noise (the report says which). Returns the result dict (also embedded and saved).
    """
    log = log or (lambda msg: None)
    src = check_model_file(src)
    if precision not in PRECISIONS:
        raise BadInput(f"precision {precision!r} must be one of {', '.join(PRECISIONS)}")
    meta = read_onnx_metadata(src)  # ModelFileError when src is not an ONNX model
    if meta is None:
        raise MissingMetadata(f"{str(src)!r} has no edgefashion metadata (preprocessing, labels); "
                              "export it with `edgefashion export`")
    if selftest.artifact_precision(meta) != "fp32":
        raise BadInput(f"{str(src)!r} is already {selftest.artifact_precision(meta)}; quantize the fp32 "
                       "ONNX it was made from (see its metadata: precision.source.path)")
    dst = Path(dst) if dst is not None else default_output(src, precision)
    if dst.resolve() == src.resolve():
        raise BadInput(f"output {str(dst)!r} is the input model; choose another -o")
    max_drop = check_max_drop(max_drop)
    rules = GateRules(DEFAULT_MAX_DROP if max_drop is None else max_drop, min_agreement)
    prep, schema = preprocess_from_metadata(meta), schema_from_metadata(meta)
    defaults = int8_defaults(meta) if precision == "int8" else {
        "keep_fp32": DEFAULT_KEEP_FP32[precision], "method": None, "for": "fp16"}
    keep = list(defaults["keep_fp32"] if keep_fp32 is None else keep_fp32)
    keep = [k for k in keep if k and k.lower() != "none"]
    method = defaults["method"] if method is None else method

    if precision == "int8":
        q8.check_method(method)
    calib_paths, eval_paths, eval_source = _image_sets(precision, calib, calib_size, eval_images,
                                                       eval_size)
    result = {
        "precision": precision, "source": {"path": str(src), "sha256": cal.model_digest(src)},
        "output": str(dst), "keep_fp32": keep, "defaults_for": defaults["for"],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "eval": {"source": eval_source, "num_images": len(eval_paths) or NOISE_EVAL_IMAGES},
    }
    dst.parent.mkdir(parents=True, exist_ok=True)
    pending: list = []  # a new "auto" calibration cache is written only with the output
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=".edgefashion-quantize-") as tmp:
        cand = Path(tmp) / "candidate.onnx"
        if precision == "fp16":
            result.update(_build_fp16(src, cand, keep, fp16_io, fp16_rounding, calib_paths, prep,
                                      batch_size))
        else:
            result.update(_build_int8(src, cand, Path(tmp), calib, calib_paths, prep, method, keep,
                                      calib_cache, dst, calib_batch_size or batch_size, percentile,
                                      quant_format, activations, progress, log, pending))
        log(f"evaluating fp32 vs {precision} on {result['eval']['num_images']} images "
            f"({eval_source})")
        ref_model, cand_model, report = _evaluate(
            src, cand, eval_paths, prep, schema, batch_size, threads, progress)
        result["eval"]["labels"] = report["category"]["labels"]
        result["accuracy"] = report
        enforce(report, f"the {precision} model of {src.name}", max_drop, rules)
        spread = eval_paths[::max(1, len(eval_paths) // max(1, self_test_images))][:self_test_images]
        ref_set = meta.get(selftest.SELF_TEST_KEY) or selftest.reference_set(
            ref_model, prep, spread or None, n=self_test_images)
        new_meta, st = _self_test(cand_model, {**meta, "precision": result}, ref_set, precision, dst,
                                  enforced=max_drop is not None, log=log)
        result["self_test"] = {k: st[k] for k in ("passed", "images", "outputs", "top1", "tolerance")}
        _write(cand, dst, new_meta, Path(tmp))
        for write in pending:
            write()
        for b in (ref_model, cand_model):
            b.close()
    rp = report_path_for(dst) if report_path == "auto" else report_path
    if rp is not None:
        Path(rp).write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
        result["report_path"] = str(rp)
    return result


def _self_test(cand, meta: dict, ref_set: dict, precision: str, dst: Path, enforced: bool = True,
               log: Callable[[str], None] = print) -> tuple[dict, dict]:
    """Fit the artifact's self-test tolerance to its own drift, then run it as a load would. With
    the gate off (``enforced`` False, max_drop None) a failure is reported, not raised: the file is
    written as asked, and a load with ``self_test=True`` will refuse it."""
    from edgefashion.errors import SelfTestError

    observed = selftest.run_self_test(cand, {**meta, selftest.SELF_TEST_KEY: ref_set},
                                      precision, raise_on_fail=False)
    tol = {**ref_set.get("tolerance", {}), precision: selftest.fit_tolerance(observed, precision)}
    new_meta = {**meta, selftest.SELF_TEST_KEY: {**ref_set, "tolerance": tol}}
    try:
        report = selftest.run_self_test(cand, new_meta, precision, raise_on_fail=enforced)
    except SelfTestError as e:
        raise SelfTestError(f"the {precision} model fails its own self-test, so {str(dst)!r} was "
                            f"not written: {e}") from e
    if not report["passed"]:
        log(f"warning: the gate is off, so {str(dst)!r} is written although it fails its own "
            f"self-test ({'; '.join(report['failures'][:2])}); a load with self_test=True refuses it")
    return new_meta, report


def _image_sets(precision: str, calib, calib_size: int | None, eval_images, eval_size: int | None
                ) -> tuple[list, list, str]:
    """-> (calibration paths, evaluation paths, where the evaluation images come from)."""
    calib_paths, held = [], []
    if precision == "int8":
        if calib is None:
            raise BadInput("int8 quantization needs calibration images: pass --calib DIR_OR_LIST")
        calib_paths, held = cal.split_images(cal.resolve_images(calib, "calibration"), calib_size)
    elif calib is not None:
        calib_paths = cal.resolve_images(calib, "calibration")
    eval_paths, eval_source = _eval_set(eval_images, held, calib_paths, precision)
    if eval_paths and eval_size is not None and len(eval_paths) > eval_size:
        eval_paths, _ = cal.split_images(eval_paths, eval_size, seed=1)
    return calib_paths, eval_paths, eval_source


def _eval_set(eval_images, held: list, calib_paths: list, precision: str) -> tuple[list, str]:
    if eval_images is not None:
        return cal.resolve_images(eval_images, "evaluation"), "given evaluation images"
    if held:
        return held, "held-out calibration images (not used for calibration)"
    if calib_paths:
        what = "the calibration images themselves (no held-out images; optimistic)" \
            if precision == "int8" else \
            "the --calib images (up to 32 of them chose the fp16 rounding; pass --eval to hold out)"
        return list(calib_paths), what
    return [], f"{NOISE_EVAL_IMAGES} seeded noise images (no images given; pass --eval)"


def _build_fp16(src: Path, cand: Path, keep: list[str], fp16_io: bool, rounding: str = "nearest",
                calib_paths: Sequence = (), prep=None, batch_size: int = 8) -> dict:
    """rounding: "nearest", "calibrated" (precision/fp16_rounding.py, needs calibration images) or
    "auto" (calibrated when calibration images are given)."""
    import onnx

    from edgefashion.precision.fp16 import convert_fp16, fp32_nodes
    from edgefashion.precision.graph import resolve_patterns

    if rounding not in ("auto", "nearest", "calibrated"):
        raise BadInput(f"fp16 rounding {rounding!r} must be auto, nearest or calibrated")
    if rounding == "calibrated" and not calib_paths:
        raise BadInput("calibrated fp16 rounding needs calibration images: pass --calib DIR_OR_LIST")
    model = onnx.load(str(src))
    named = resolve_patterns(model.graph, keep) if keep else []
    kept = fp32_nodes(model, named)
    rounded: list[str] = []
    if rounding != "nearest" and calib_paths:
        from edgefashion.precision.fp16_rounding import calibrate_fp16_rounding

        spread = list(calib_paths)[::max(1, len(calib_paths) // 32)][:32]  # every category
        rounded = calibrate_fp16_rounding(model, cal.CalibrationImages(spread, prep, batch_size), kept)
    onnx.save(convert_fp16(model, fp16_io=fp16_io, keep_fp32_nodes=named), str(cand))
    return {"fp16_io": bool(fp16_io), "fp32_nodes": kept,
            "rounding": "calibrated" if rounded else "nearest", "calibrated_nodes": len(rounded)}


def _build_int8(src: Path, cand: Path, tmp: Path, calib, calib_paths: list, prep, method: str,
                keep: list[str], calib_cache, dst: Path, batch_size: int, percentile: float,
                quant_format: str, activations: str, progress: bool, log, pending: list) -> dict:
    import onnx

    from edgefashion.precision.graph import resolve_patterns

    pre = q8.prepare(src, tmp / "pre.onnx")
    exclude = resolve_patterns(onnx.load(str(pre)).graph, keep) if keep else []
    settings = q8.calib_settings(method, percentile)
    parts = cal.cache_key_parts(src, prep, method, **settings)
    key, digest = cal.cache_key(parts), cal.images_digest(calib_paths)
    cache = Path(str(dst) + ".calib.json") if calib_cache == "auto" else calib_cache
    ranges = cal.read_cache(cache, key, "onnxruntime", images=digest) if cache else None
    hit = ranges is not None
    if hit:
        log(f"calibration cache {cache} matches the model, preprocessing and images; "
            "skipping calibration")
    else:
        log(f"calibrating on {len(calib_paths)} images ({method})")
        images = cal.CalibrationImages(calib_paths, prep, batch_size)
        ranges = q8.calibrate(pre, images, method, percentile, progress)
        if cache:
            def write(r=ranges) -> None:
                cal.write_cache(cache, key, parts, "onnxruntime", r, digest, len(calib_paths))

            if calib_cache == "auto":  # written with the output, so a failed gate leaves nothing
                pending.append(write)
            else:  # an explicit cache file is kept even when the gate fails (retries reuse it)
                write()
    q8.quantize(pre, cand, ranges, method, exclude, quant_format, activations=activations)
    source = str(calib) if isinstance(calib, (str, Path)) else f"{len(calib_paths)} listed images"
    return {"method": method, "quant_format": quant_format, "activations": activations,
            "fp32_nodes": exclude,
            "calibration": {"images": len(calib_paths), "source": source, "settings": settings,
                            "batch_size": batch_size, "cache": str(cache) if cache else None,
                            "cache_hit": hit, "key": key}}


def _evaluate(src: Path, cand: Path, paths: list, prep, schema, batch_size: int,
              threads: int | None, progress: bool):
    from edgefashion.runtime.backends.onnxruntime import OnnxRuntimeBackend
    from edgefashion.runtime.predictor import Predictor

    ref = OnnxRuntimeBackend(src, threads=threads)
    out = OnnxRuntimeBackend(cand, threads=threads)
    if paths:
        batches = cal.CalibrationImages(paths, prep, batch_size)
        labels = cal.folder_labels(paths, schema.category_names) if schema else None
    else:
        imgs, _ = selftest.reference_images(prep, None, NOISE_EVAL_IMAGES, seed=1)
        x = preprocess_batch(imgs, prep)
        batches = [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
        labels = None
    bar = q8._bar(len(paths) or NOISE_EVAL_IMAGES, "evaluating", progress)
    try:
        # the Predictor's infer feeds any extra input (m2fashion's "known") its neutral value
        ref_p, out_p = Predictor(ref), Predictor(out)
        r, o = collect_outputs([ref_p.infer, out_p.infer], batches, bar)
    finally:
        if bar is not None:
            bar.close()
    return ref, out, accuracy_report(r, o, labels, schema)


def _write(cand: Path, dst: Path, meta: dict, tmp: Path) -> None:
    import onnx

    from edgefashion.export.metadata import set_onnx_metadata

    model = onnx.load(str(cand))
    set_onnx_metadata(model, json.loads(json.dumps(meta, default=_json_default)))
    final = tmp / "final.onnx"
    onnx.save(model, str(final))
    os.replace(final, dst)


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-able: {type(o).__name__}")
