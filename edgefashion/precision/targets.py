"""Gate targets: the runtimes (and precision hints) a quantized file is checked on before it is written.

A target is a backend spec ``load_backend`` understands: "onnxruntime", "openvino",
"openvino:bf16", "openvino:f16", "tensorrt". The same Q/DQ file gives different answers on each:
ONNX Runtime runs many layers in fp32 between Q/DQ passes, OpenVINO folds them into int8 kernels and,
with a bf16 hint, runs the rest in bf16 (measured on clothing-small, msfan_lite int8: 99.46 % top-1
agreement with fp32 on ONNX Runtime, 98.66 % on OpenVINO). So the gate runs where the file will run:
by default the backend ``auto`` picks for that file on this machine, plus ONNX Runtime as the portable
reference (``default_targets``).

The targets that passed are recorded in the file's metadata (``precision.targets``); the Predictor
warns once when it runs the file on a backend or hint that is not among them (``check_gated``).
"""
from __future__ import annotations

from collections.abc import Sequence

from edgefashion.errors import BackendUnavailable, BadInput

# target -> (backend, OpenVINO precision hint or None)
KNOWN_TARGETS: dict[str, tuple[str, str | None]] = {
    "onnxruntime": ("onnxruntime", None),
    "openvino": ("openvino", "f32"),
    "openvino:bf16": ("openvino", "bf16"),
    "openvino:f16": ("openvino", "f16"),
    "tensorrt": ("tensorrt", None),
}
ALIASES = {"ort": "onnxruntime", "onnx": "onnxruntime", "ov": "openvino", "openvino:f32": "openvino",
           "ov:bf16": "openvino:bf16", "ov:f16": "openvino:f16", "trt": "tensorrt"}
PORTABLE = "onnxruntime"


def canonical(target: str) -> str:
    """"ov:bf16" -> "openvino:bf16"; BadInput listing the known targets for anything else."""
    key = str(target).strip().lower()
    key = ALIASES.get(key, key)
    if key not in KNOWN_TARGETS:
        raise BadInput(f"unknown gate target {target!r}; available: {', '.join(KNOWN_TARGETS)} "
                       "(comma-separated, e.g. --targets onnxruntime,openvino:bf16)")
    return key


def parse_targets(spec: str | Sequence[str] | None) -> list[str] | None:
    """"onnxruntime, openvino:bf16" or a list -> canonical names, in order, without repeats; None
    stays None (the defaults)."""
    if spec is None:
        return None
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [canonical(t) for t in items if str(t).strip()]
    if not names:
        raise BadInput(f"--targets {spec!r} names no target; available: {', '.join(KNOWN_TARGETS)}")
    return list(dict.fromkeys(names))


def require_installed(targets: Sequence[str]) -> None:
    """BackendUnavailable naming the package of the first target whose runtime is not installed."""
    from edgefashion.runtime.backends.base import get_backend

    for t in targets:
        cls = get_backend(KNOWN_TARGETS[t][0])
        if not cls.is_available():
            hint = getattr(cls, "install_hint", None) or f"install the {cls.name} package"
            raise BackendUnavailable(f"gate target {t!r} needs {cls.name}, which is not installed "
                                     f"here: {hint}; or leave it out of --targets")


def default_targets(precision: str) -> list[str]:
    """The backend ``auto`` runs a ``.onnx`` of ``precision`` with on this machine, then ONNX Runtime."""
    from edgefashion.runtime.backends.base import auto_onnx_backend

    return list(dict.fromkeys([canonical(auto_onnx_backend(precision)), PORTABLE]))


def backend_spec(target: str) -> str:
    """The ``load_backend`` spec of a target ("openvino" is said as "openvino:f32")."""
    name, hint = KNOWN_TARGETS[canonical(target)]
    return f"{name}:{hint}" if hint else name


VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_lacks_vnni(cpuinfo: str | None = None) -> bool:
    """True on an x86 CPU without an int8 dot-product instruction (VNNI / AMX), read from
    /proc/cpuinfo (``cpuinfo`` for tests); False where that cannot be read (the 8-bit default)."""
    import platform

    from edgefashion.runtime.backends.base import X86

    if cpuinfo is None:
        if platform.machine().lower() not in X86:
            return False
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read(65536)
        except OSError:
            return False
    flags = set(cpuinfo.replace("\t", " ").split())
    return "avx2" in flags and not flags & set(VNNI_FLAGS)


def default_weight_bits(targets: Sequence[str], cpuinfo: str | None = None) -> int:
    """7 when an OpenVINO CPU target runs on this CPU without VNNI (its AVX2 int8 kernels sum pairs
    of u8 x s8 products in int16, which 8-bit weights saturate: demo msfan_lite, 64 catalogue photos,
    OpenVINO top-1 agreement 85.9 % with 8-bit weights, 96.9 % with 7-bit; ONNX Runtime 95.3 % with
    either), else 8."""
    ov = any(KNOWN_TARGETS[canonical(t)][0] == "openvino" for t in targets)
    return 7 if ov and cpu_lacks_vnni(cpuinfo) else 8
