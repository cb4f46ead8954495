"""edgefashion env: versions, CPU ISA, extension kernels, backends, devices (CUDA, OpenVINO), models."""
from __future__ import annotations

import importlib
import json
import platform


def add_parser(sub) -> None:
    p = sub.add_parser("env", help="versions, CPU ISA, compiled kernels, available backends and devices")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def _version(module: str) -> str:
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except Exception:  # noqa: BLE001 - any import failure means "not usable here"
        return "not installed"


def collect() -> dict:
    import edgefashion
    from edgefashion.runtime.backends.base import available_backends

    from edgefashion.bench.env import cpu_isa, cpu_name, openvino_devices

    missing: dict = {}
    info = {
        "edgefashion": edgefashion.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "cpu": cpu_name(),
        # what the int8 / bf16 CPU paths need: VNNI for int8 dot products, BF16 / AMX for bf16
        "cpu_isa": ", ".join(cpu_isa()) or "unknown (/proc/cpuinfo not readable)",
        "packages": {m: _version(m) for m in ("numpy", "cv2", "torch", "torchvision", "onnx",
                                              "onnxruntime", "openvino", "tensorrt", "pycuda")},
        "backends": available_backends(),
    }
    devices = openvino_devices(missing)
    info["openvino_devices"] = ", ".join(devices) if devices else missing.get("openvino_devices")
    try:
        import onnxruntime

        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        pass
    try:
        import torch

        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:
        info["cuda"] = "unknown (torch not installed)"
    info["extension"] = _extension()
    try:
        from edgefashion.models import list_models

        info["models"] = list_models()
    except ImportError:
        info["models"] = "torch not installed (training and .pt models unavailable)"
    return info


def _extension() -> dict | str:
    try:
        import edgefashion._C  # noqa: F401
    except ImportError as e:
        return f"not built ({e}); ops use the PyTorch reference"
    try:
        from edgefashion.ops.fused import kernel_report

        return kernel_report()
    except ImportError:
        return "built"


def run(args) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k:<18} {v}")
        else:
            print(f"{key:<20} {value}")
    return 0
