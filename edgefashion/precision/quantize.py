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
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from edgefashion.errors import BadInput, MissingMetadata
from edgefashion.precision import calibration as cal
from edgefashion.precision import int8 as q8
from edgefashion.precision import target_eval as te
from edgefashion.precision import targets as tg
from edgefashion.precision.gate import REMEDY, AccuracyGateError
from edgefashion.precision.options import QuantizeOptions
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


def quantize_onnx(src: str | Path, dst: str | Path | None = None, precision: str = "fp16",
                  options: QuantizeOptions | None = None, *, log: Callable[[str], None] | None = None,
                  **settings) -> dict:
    """Make the ``precision`` version of ``src`` at ``dst`` (default ``<stem>.<precision>.onnx``).

    options: a QuantizeOptions (precision/options.py: calibration, evaluation, gate, fallback,
    output); keyword ``settings`` are its fields and replace the ones in ``options``
    (``quantize_onnx(m, None, "int8", calib="photos/")``). int8 ``method`` and ``keep_fp32``
    default to the model's own (``int8_defaults``). log: one line per step (default silent).
    Returns the result dict (also embedded and saved).
    """
    opts = (options or QuantizeOptions()).with_(**settings)
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
    rules, max_drop, threads = opts.gate_rules, opts.gate_max_drop, opts.threads
    prep, schema = preprocess_from_metadata(meta), schema_from_metadata(meta)
    defaults = int8_defaults(meta) if precision == "int8" else {
        "keep_fp32": DEFAULT_KEEP_FP32[precision], "method": None, "for": "fp16"}
    keep = list(defaults["keep_fp32"] if opts.keep_fp32 is None else opts.keep_fp32)
    keep = [k for k in keep if k and k.lower() != "none"]
    method = defaults["method"] if opts.method is None else opts.method
    if precision == "int8":
        q8.check_method(method)
    targets = tg.parse_targets(opts.targets) or tg.default_targets(precision)
    tg.require_installed(targets)
    weight_bits = tg.default_weight_bits(targets) if opts.weight_bits is None else int(opts.weight_bits)
    if opts.candidate is not None and precision != "int8":
        raise BadInput(f"a ready candidate is an int8 Q/DQ file; precision {precision!r} makes its own")
    calib_paths, eval_paths, eval_source = _image_sets(
        "given" if opts.candidate is not None else precision, opts)
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
        rebuild = None
        if opts.candidate is not None:
            shutil.copyfile(check_model_file(opts.candidate), cand)
            result.update(method="qat", weight_bits=weight_bits, fp32_nodes=[], qat=opts.qat)
        elif precision == "fp16":
            result.update(_build_fp16(src, cand, keep, opts, calib_paths, prep))
        else:
            plan = _Int8Plan(method, keep, weight_bits, dst, log, pending)
            info, rebuild = _build_int8(src, cand, Path(tmp), opts, calib_paths, prep, plan)
            result.update(info)
        log(f"evaluating fp32 vs {precision} on {result['eval']['num_images']} images "
            f"({eval_source}) on {', '.join(targets)}")
        images = _eval_images(eval_paths, prep, schema, opts.batch_size, opts.progress)
        ref = te.run_outputs(src, tg.PORTABLE, images, threads)
        per_target = te.evaluate_targets(ref, cand, targets, images, schema, rules, max_drop, threads)
        if not te.all_passed(per_target) and rebuild is not None and opts.fallback_settings.enabled:
            judge = lambda path: te.evaluate_targets(ref, path, targets, images, schema,  # noqa: E731
                                                     rules, max_drop, threads)
            cand, per_target = _fall_back(result, cand, per_target, rebuild, judge, ref, images,
                                          Path(tmp), src, opts, log)
        _record_targets(result, per_target, targets)
        _refuse_unless_passed(per_target, f"the {precision} model of {src.name}", result)
        n_self = opts.self_test_images
        spread = eval_paths[::max(1, len(eval_paths) // max(1, n_self))][:n_self]
        ref_set = meta.get(selftest.SELF_TEST_KEY) or selftest.reference_set(
            te.open_target(src, tg.PORTABLE, threads), prep, spread or None, n=n_self)
        new_meta, st = _self_test(cand, targets, {**meta, "precision": result}, ref_set, precision,
                                  dst, enforced=opts.enforced, log=log, threads=threads)
        result["self_test"] = {k: st[k] for k in ("passed", "images", "outputs", "top1", "tolerance")}
        new_meta["precision"] = result
        _write(cand, dst, new_meta, Path(tmp))
        for write in pending:
            write()
    rp = report_path_for(dst) if opts.report_path == "auto" else opts.report_path
    if rp is not None:
        Path(rp).write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
        result["report_path"] = str(rp)
    return result


def _self_test(cand: Path, targets: list[str], meta: dict, ref_set: dict, precision: str, dst: Path,
               enforced: bool = True, log: Callable[[str], None] = print, threads: int | None = None
               ) -> tuple[dict, dict]:
    """Fit the artifact's self-test tolerance to its own drift on every target (the loosest), then
    run it on each as a load would. With the gate off (``enforced`` False, max_drop None) a failure is
    reported, not raised: the file is written as asked, and a load with ``self_test=True`` refuses it."""
    from edgefashion.errors import SelfTestError

    runs = {t: te.open_target(cand, t, threads) for t in targets}
    try:
        fits = [selftest.fit_tolerance(selftest.run_self_test(
            p, {**meta, selftest.SELF_TEST_KEY: ref_set}, precision, raise_on_fail=False), precision)
            for p in runs.values()]
        fitted = {"cosine": min(f["cosine"] for f in fits), "map_abs": max(f["map_abs"] for f in fits),
                  "margin": max(f["margin"] for f in fits)}
        tol = {**ref_set.get("tolerance", {}), precision: fitted}
        new_meta = {**meta, selftest.SELF_TEST_KEY: {**ref_set, "tolerance": tol}}
        reports = {}
        for t, p in runs.items():
            try:
                reports[t] = selftest.run_self_test(p, new_meta, precision, raise_on_fail=enforced)
            except SelfTestError as e:
                raise SelfTestError(f"the {precision} model fails its own self-test on {t}, so "
                                    f"{str(dst)!r} was not written: {e}") from e
    finally:
        for p in runs.values():
            p.backend.close()
    report = min(reports.values(), key=lambda r: r["passed"])
    if not report["passed"]:
        log(f"warning: the gate is off, so {str(dst)!r} is written although it fails its own "
            f"self-test ({'; '.join(report['failures'][:2])}); a load with self_test=True refuses it")
    return new_meta, report


def _eval_images(paths: list, prep, schema, batch_size: int, progress: bool) -> te.EvalImages:
    """The evaluation images, preprocessed once (seeded noise when there are none)."""
    if not paths:
        imgs, _ = selftest.reference_images(prep, None, NOISE_EVAL_IMAGES, seed=1)
        x = preprocess_batch(imgs, prep)
        return te.EvalImages([x[i:i + batch_size] for i in range(0, len(x), batch_size)], None)
    bar = q8._bar(len(paths), "reading evaluation images", progress)
    try:
        return te.EvalImages.load(paths, prep, schema, batch_size, bar)
    finally:
        if bar is not None:
            bar.close()


def _fall_back(result: dict, cand: Path, per_target: dict, rebuild, judge, ref: dict,
               images: te.EvalImages, tmp: Path, src: Path, opts: QuantizeOptions,
               log) -> tuple[Path, dict]:
    """Run precision/fallback.py; on success the fallback candidate replaces ``cand``. The record
    (and, when it passed, the latency of fp32 / int8 / fallback on every target) goes in ``result``.
    judge: path -> the gate's reports on every target."""
    from edgefashion.precision.fallback import drift, failing_maps, run_fallback

    threads, settings = opts.threads, opts.fallback_settings
    log("the int8 candidate fails the gate (" + "; ".join(te.failures(per_target)) + ")")
    tried = {}
    if settings.methods and rebuild.recalibrate is not None:
        cand, per_target, rebuild, tried = _other_methods(cand, per_target, rebuild, judge, tmp, log)
        result.update(method=rebuild.method)
        if te.all_passed(per_target):
            result["fallback"] = {"passed": True, "calibration_methods": tried, "steps": [],
                                  "returned": [], "exclude": rebuild.exclude, "budget": settings.budget}
            return cand, per_target
    log(f"returning the most harmful layers to fp32 (budget {settings.budget:.0%} of the MACs)")
    failing = [t for t, r in per_target.items() if not r["gate"]["passed"]]
    maps = failing_maps(per_target)  # e.g. a gate map's max-abs: the ranking measures it too
    rank = images.head(settings.rank_images)
    rank_ref = {k: v[:rank.num_images] for k, v in ref.items()}

    def measure(path: Path) -> float:  # the drift summed over the failing targets
        return sum(drift(rank_ref, te.run_outputs(path, t, rank, threads), maps) for t in failing)

    record = run_fallback(rebuild.pre, rebuild.exclude, settings, rebuild, judge, measure, tmp, log,
                          start=per_target)
    record.update(ranked_on=failing, ranked_maps=maps, int8_failed=te.failures(per_target),
                  calibration_methods=tried, method=rebuild.method)
    result["fallback"] = record
    final = tmp / "fallback.onnx"
    if not record["passed"]:  # the refusal reports the closest state the search reached
        return cand, (judge(final) if any(s_["kept"] for s_ in record["steps"]) else per_target)
    files = {"fp32": src, "int8": cand, "fallback": final}
    record["latency_ms"] = {t: te.interleaved_p50_ms(files, t, images.batches[0][:1], threads,
                                                     iters=50, rounds=3) for t in per_target}
    for lat in record["latency_ms"].values():
        gain = lat["fp32"] - lat["int8"]
        lat["speedup_kept"] = (lat["fp32"] - lat["fallback"]) / gain if gain > 0 else None
    result["fp32_nodes"] = record["exclude"]
    return final, judge(final)


def _other_methods(cand: Path, per_target: dict, rebuild: "_Rebuild", judge, tmp: Path, log):
    """The fallback's first step: the other calibration methods on the same images (a method the user
    did not choose). -> the best candidate (summed top-1 agreement), its reports, its rebuild, and
    every method's agreement per target."""
    from edgefashion.precision.fallback import gate_score

    def summary(reports: dict) -> dict:
        return {t: r["category"]["top1_agreement"] for t, r in reports.items()}

    tried = {rebuild.method: summary(per_target)}
    best = (gate_score(per_target), cand, per_target, rebuild)
    for method in [m for m in q8.METHODS if m != rebuild.method]:
        log(f"fallback: calibrating with {method} instead of {rebuild.method}")
        other = rebuild.with_method(method)
        path = tmp / f"candidate.{method}.onnx"
        other(other.exclude, path)
        reports = judge(path)
        tried[method] = summary(reports)
        log(f"fallback: {method}: " + ", ".join(f"{t} agreement {a:.4f}" for t, a in tried[method].items()))
        if te.all_passed(reports):
            return path, reports, other, tried
        if gate_score(reports) > best[0]:
            best = (gate_score(reports), path, reports, other)
    return best[1], best[2], best[3], tried


def _record_targets(result: dict, per_target: dict, targets: list) -> None:
    """The first target's report is the file's "accuracy"; every target's is kept, and the list the
    Predictor compares against (runtime/gated_targets.py)."""
    result["accuracy"] = per_target[targets[0]]
    result["eval"]["labels"] = result["accuracy"]["category"]["labels"]
    result["target_reports"] = per_target
    result["targets"] = [{"target": t, "passed": r["gate"]["passed"],
                          "top1_agreement": r["category"]["top1_agreement"]}
                         for t, r in per_target.items()]


def _refuse_unless_passed(per_target: dict, what: str, result: dict) -> None:
    if te.all_passed(per_target):
        return
    broken = te.failures(per_target)
    fb = result.get("fallback")
    tried = "" if fb is None else (
        f" The fallback returned {len(fb['returned'])} unit(s) to fp32 ({fb['fp32_share']:.1%} of the MACs, "
        f"budget {fb['budget']:.0%}) without passing; raise --fallback-budget, or")
    report = {**per_target[te.worst_target(per_target)], "targets": result["targets"],
              "target_reports": per_target, "fallback": fb}
    raise AccuracyGateError(
        f"{what} fails the accuracy gate on {report['num_images']} images: {'; '.join(broken)}; "
        f"nothing was written.{tried} {REMEDY}", report)


def _image_sets(precision: str, opts: QuantizeOptions) -> tuple[list, list, str]:
    """-> (calibration paths, evaluation paths, where the evaluation images come from)."""
    calib, calib_paths, held = opts.calib, [], []
    if precision == "int8":
        if calib is None:
            raise BadInput("int8 quantization needs calibration images: pass --calib DIR_OR_LIST")
        calib_paths, held = cal.split_images(cal.resolve_images(calib, "calibration"), opts.calib_size)
    elif calib is not None:
        calib_paths = cal.resolve_images(calib, "calibration")
    eval_paths, eval_source = _eval_set(opts.eval_images, held, calib_paths, precision)
    if eval_paths and opts.eval_size is not None and len(eval_paths) > opts.eval_size:
        eval_paths, _ = cal.split_images(eval_paths, opts.eval_size, seed=1)
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


def _build_fp16(src: Path, cand: Path, keep: list[str], opts: QuantizeOptions,
                calib_paths: Sequence = (), prep=None) -> dict:
    """opts.fp16_rounding: "nearest", "calibrated" (precision/fp16_rounding.py, needs calibration
    images) or "auto" (calibrated when calibration images are given)."""
    import onnx

    from edgefashion.precision.fp16 import convert_fp16, fp32_nodes
    from edgefashion.precision.graph import resolve_patterns

    rounding, fp16_io = opts.fp16_rounding, opts.fp16_io
    if rounding == "calibrated" and not calib_paths:
        raise BadInput("calibrated fp16 rounding needs calibration images: pass --calib DIR_OR_LIST")
    model = onnx.load(str(src))
    named = resolve_patterns(model.graph, keep) if keep else []
    kept = fp32_nodes(model, named)
    rounded: list[str] = []
    if rounding != "nearest" and calib_paths:
        from edgefashion.precision.fp16_rounding import calibrate_fp16_rounding

        spread = list(calib_paths)[::max(1, len(calib_paths) // 32)][:32]  # every category
        rounded = calibrate_fp16_rounding(model, cal.CalibrationImages(spread, prep, opts.batch_size),
                                         kept)
    onnx.save(convert_fp16(model, fp16_io=fp16_io, keep_fp32_nodes=named), str(cand))
    return {"fp16_io": bool(fp16_io), "fp32_nodes": kept,
            "rounding": "calibrated" if rounded else "nearest", "calibrated_nodes": len(rounded)}


@dataclass(frozen=True)
class _Int8Plan:
    """What quantize_onnx resolved for the int8 build: the method and kept patterns (the model's
    defaults filled in), the weight bits for the targets, the output (for the "auto" cache), the log,
    and ``pending``: cache writes that wait for the output."""

    method: str
    keep: list
    weight_bits: int
    dst: Path
    log: Callable[[str], None]
    pending: list


def _build_int8(src: Path, cand: Path, tmp: Path, opts: QuantizeOptions, calib_paths: list, prep,
                plan: _Int8Plan) -> tuple[dict, "_Rebuild"]:
    import onnx

    from edgefashion.precision.graph import resolve_patterns

    pre = q8.prepare(src, tmp / "pre.onnx")
    method, log, calib_cache = plan.method, plan.log, opts.calib_cache
    batch_size, percentile = opts.calib_batch_size or opts.batch_size, opts.percentile
    exclude = resolve_patterns(onnx.load(str(pre)).graph, plan.keep) if plan.keep else []
    settings = q8.calib_settings(method, percentile)
    parts = cal.cache_key_parts(src, prep, method, **settings)
    key, digest = cal.cache_key(parts), cal.images_digest(calib_paths)
    cache = Path(str(plan.dst) + ".calib.json") if calib_cache == "auto" else calib_cache
    ranges = cal.read_cache(cache, key, "onnxruntime", images=digest) if cache else None
    hit = ranges is not None
    if hit:
        log(f"calibration cache {cache} matches the model, preprocessing and images; "
            "skipping calibration")
    else:
        log(f"calibrating on {len(calib_paths)} images ({method})")
        images = cal.CalibrationImages(calib_paths, prep, batch_size)
        ranges = q8.calibrate(pre, images, method, percentile, opts.progress)
        if cache:
            def write(r=ranges) -> None:
                cal.write_cache(cache, key, parts, "onnxruntime", r, digest, len(calib_paths))

            if calib_cache == "auto":  # written with the output, so a failed gate leaves nothing
                plan.pending.append(write)
            else:  # an explicit cache file is kept even when the gate fails (retries reuse it)
                write()
    def recalibrate(other: str) -> dict:  # the fallback's other methods, on the same images
        return q8.calibrate(pre, cal.CalibrationImages(calib_paths, prep, batch_size), other,
                            percentile, opts.progress)

    rebuild = _Rebuild(pre, ranges, method, exclude, opts.quant_format, opts.activations,
                       plan.weight_bits, recalibrate if opts.method is None else None)
    rebuild(exclude, cand)
    calib = opts.calib
    source = str(calib) if isinstance(calib, (str, Path)) else f"{len(calib_paths)} listed images"
    return {"method": method, "quant_format": opts.quant_format, "activations": opts.activations,
            "weight_bits": plan.weight_bits, "fp32_nodes": exclude,
            "calibration": {"images": len(calib_paths), "source": source, "settings": settings,
                            "batch_size": batch_size, "cache": str(cache) if cache else None,
                            "cache_hit": hit, "key": key}}, rebuild


class _Rebuild:
    """Quantize the prepared model again with other nodes kept in fp32 (same calibration ranges);
    ``with_method``: the same with ranges from another calibration method (``recalibrate``)."""

    def __init__(self, pre: Path, ranges: dict, method: str, exclude: list[str], quant_format: str,
                 activations: str, weight_bits: int = 8, recalibrate=None) -> None:
        self.pre, self.ranges, self.method, self.exclude = pre, ranges, method, list(exclude)
        self.quant_format, self.activations, self.weight_bits = quant_format, activations, weight_bits
        self.recalibrate = recalibrate

    def with_method(self, method: str) -> "_Rebuild":
        return _Rebuild(self.pre, self.recalibrate(method), method, self.exclude, self.quant_format,
                        self.activations, self.weight_bits, self.recalibrate)

    def __call__(self, exclude: list[str], dst: Path) -> None:
        q8.quantize(self.pre, dst, self.ranges, self.method, exclude, self.quant_format,
                    activations=self.activations, weight_bits=self.weight_bits)


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
