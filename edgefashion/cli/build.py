"""edgefashion build model.onnx -o model.engine: a TensorRT engine and its sidecar model.engine.json.

Without TensorRT the command stops with a BackendUnavailable error saying how to install it (desktop
and Jetson). ``--explain VERSION`` prints what a build would do on that TensorRT without needing it.
"""
from __future__ import annotations

from pathlib import Path

from edgefashion.cli.common import add_quiet_flag, quiet_of


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="build a TensorRT engine (+ model.engine.json) from an ONNX model")
    p.add_argument("onnx", help="the ONNX model (fp32, or fp16 / int8 from `edgefashion quantize`)")
    p.add_argument("-o", "--out", help="the engine file (default: beside the ONNX, .engine)")
    p.add_argument("--preset", help="deployment preset (e.g. orin-fp16, orin-int8, orin-int8-dla; "
                   "`python -m edgefashion.export.presets` lists them); explicit flags win")
    p.add_argument("--precision", choices=["auto", "fp32", "fp16", "int8"],
                   help="auto: the ONNX's own precision (default)")
    p.add_argument("--batch", help="MIN:OPT:MAX batch sizes of the profile, e.g. 1:8:32 (default 1:8:32, "
                                   "or the model's static batch)")
    p.add_argument("--workspace", type=int, metavar="MB", help="builder scratch memory limit")
    p.add_argument("--timing-cache", metavar="FILE", help="read and update this TensorRT timing cache")
    p.add_argument("--plugins", action="append", default=[], metavar="PATH",
                   help="a TensorRT plugin library to load (repeatable; edgefashion's own is found itself)")
    p.add_argument("--dla", type=int, metavar="N", help="run on DLA core N (Jetson), GPU fallback on")
    p.add_argument("--calib", metavar="DIR", help="calibration images (folder, list file or glob) for int8")
    p.add_argument("--calib-cache", metavar="FILE", help="calibration cache to read / write")
    p.add_argument("--calib-batch", type=int, default=8, help="calibration batch size (legacy calibrator)")
    p.add_argument("--calib-max", type=int, help="at most this many calibration images (default 512)")
    p.add_argument("--calibrator", choices=["auto", "qdq", "entropy"],
                   help="int8 from an fp32 ONNX: qdq = quantize the ONNX first (TensorRT 10+ default), "
                        "entropy = TensorRT's legacy calibrator (TensorRT <= 10; 8.x default)")
    p.add_argument("--check-images", metavar="DIR", help="compare engine vs ONNX on these images (gate)")
    p.add_argument("--num-check", type=int, default=64, help="how many check images")
    p.add_argument("--max-drop", type=float, help="max top-3 accuracy loss in points (default 0.5)")
    p.add_argument("--device", type=int, default=0, help="GPU index")
    p.add_argument("--log-level", default="warning", choices=["error", "warning", "info", "verbose"],
                   help="TensorRT's log level")
    add_quiet_flag(p, "no progress lines")
    p.add_argument("--explain", metavar="TRT_VERSION",
                   help="print what the build would do on this TensorRT version (e.g. 8.6) and exit")
    p.set_defaults(run=run)


def settings_from_args(args):
    from edgefashion.engine.settings import BuildSettings

    out = args.out or str(Path(args.onnx).with_suffix(".engine"))
    given = {"precision": args.precision, "batch": args.batch, "workspace_mb": args.workspace,
             "dla": args.dla, "calib_max": args.calib_max, "calibrator": args.calibrator,
             "max_drop": args.max_drop}
    opts = dict(BUILD_DEFAULTS)
    if getattr(args, "preset", None):
        from edgefashion.export.presets import get_preset

        opts.update(get_preset(args.preset).build_options())
    opts.update({k: v for k, v in given.items() if v is not None})  # explicit flags win
    return BuildSettings(
        onnx=args.onnx, output=out, timing_cache=args.timing_cache, plugins=tuple(args.plugins),
        calib=args.calib, calib_cache=args.calib_cache, calib_batch=args.calib_batch,
        check_images=args.check_images, num_check=args.num_check, **opts,
    )


# what an unset flag means without a preset
BUILD_DEFAULTS = {"precision": "auto", "batch": None, "workspace_mb": None, "dla": None, "calib_max": 512,
                  "calibrator": "auto", "max_drop": 0.5}


def explain(settings, version: str) -> str:
    """What a build of ``settings`` does on TensorRT ``version`` (no TensorRT needed)."""
    from edgefashion.engine.plan import detect_onnx_precision, onnx_input_shapes, select_build_path
    from edgefashion.engine.profiles import default_batch, plan_profile
    from edgefashion.runtime.backends.base import check_model_file
    from edgefashion.runtime.tensorrt.compat import features_for_version

    check_model_file(settings.onnx)
    features = features_for_version(version)
    onnx_precision = detect_onnx_precision(settings.onnx)
    path = select_build_path(features, settings.precision, onnx_precision, settings.calibrator,
                             bool(settings.calib or settings.calib_cache), settings.dla is not None)
    shapes = onnx_input_shapes(settings.onnx)
    profiles = plan_profile(shapes, settings.batch_range or default_batch(shapes))
    lines = [f"TensorRT {features.version}: {settings.onnx} ({onnx_precision} ONNX) -> {path.precision} engine",
             f"  path: {path.name}; network flags: {', '.join(path.network_flags) or 'none'}; builder "
             f"flags: {', '.join(path.builder_flags) or 'none'}"
             + ("; INT8 entropy calibrator" if path.calibrator else "")]
    if path.quantize_to:
        lines.append(f"  first: quantize to {path.quantize_to} with edgefashion.precision (accuracy-gated)")
    lines += [f"  note: {n}" for n in path.notes]
    lines += [f"  profile {n}: min {p.min} opt {p.opt} max {p.max}" for n, p in profiles.items()]
    lines.append(f"  rebuild command: {settings.resolved().to_command()}")
    return "\n".join(lines)


def run(args) -> int:
    settings = settings_from_args(args)
    if args.explain:
        print(explain(settings, args.explain))
        return 0
    from edgefashion.engine.builder import build_from_settings

    result = build_from_settings(settings, progress=not quiet_of(args), log_level=args.log_level,
                                 device=args.device)
    info = result.info
    print(f"wrote {result.engine}  ({info.precision}, {info.build_path} build, TensorRT {info.tensorrt_version} "
          f"on {info.gpu_name} (compute capability {info.compute_capability}), {info.size / 2**20:.1f} MiB, "
          f"{info.build_seconds:.0f} s)")
    print(f"wrote {result.sidecar}")
    check = (info.accuracy or {}).get("engine_vs_onnx")
    if check:
        from edgefashion.precision.accuracy import format_report

        print(format_report(check, title=f"engine vs ONNX on {check['num_images']} images"))
    return 0
