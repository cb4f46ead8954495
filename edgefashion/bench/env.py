"""Where a benchmark ran: machine, versions, date, CPU ISA, and (where readable) GPU / Jetson clocks
and power. The one machine-facts module: ``edgefashion env`` and ``benchmarks/`` import it.

Every probe is optional. A fact that cannot be read is recorded as ``None`` and the reason goes to
``environment["unavailable"][key]``, so that a reader can tell "not measured" from "zero".
Nothing heavy is imported: versions come from package metadata when it exists.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

# module -> distribution names that may provide it (first found wins)
PACKAGES = {
    "edgefashion": ("edgefashion",), "numpy": ("numpy",),
    "cv2": ("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"), "onnx": ("onnx",), "torch": ("torch",),
    "torchvision": ("torchvision",), "tensorrt": ("tensorrt", "tensorrt-cu12", "tensorrt-cu13"),
    "pycuda": ("pycuda",), "PIL": ("pillow",), "psutil": ("psutil",), "openvino": ("openvino",),
    "timm": ("timm",), "cupy": ("cupy", "cupy-cuda12x", "cupy-cuda13x"),
}
# /proc/cpuinfo flag -> the ISA name people look for (what int8 / bf16 kernels need on x86).
ISA_FLAGS = {
    "avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512", "avx512bw": "AVX-512BW",
    "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "avx512_bf16": "AVX-512 BF16",
    "avx512_fp16": "AVX-512 FP16", "amx_tile": "AMX", "amx_bf16": "AMX-BF16", "amx_int8": "AMX-INT8",
    "asimd": "NEON", "asimddp": "NEON dot product", "bf16": "ARM BF16", "i8mm": "ARM I8MM",
}
GPU_FIELDS = ("name", "driver_version", "pstate", "clocks.sm", "clocks.mem", "clocks.max.sm",
              "clocks.max.mem", "power.draw", "power.limit", "temperature.gpu", "utilization.gpu",
              "memory.used", "memory.total")
TIMEOUT = 10.0


def capture_environment(probe_gpu: bool = True, probe_jetson: bool = True) -> dict:
    """Machine, versions, date, load, and GPU / Jetson state (see the module docstring)."""
    missing: dict[str, str] = {}
    env = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(), "platform": platform.platform(), "machine": platform.machine(),
        "python": platform.python_version(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
        "cpu_isa": cpu_isa(), "loadavg": _loadavg(missing), "cpu_governor": _governor(missing),
        "versions": package_versions(), "onnxruntime_providers": _ort_providers(missing),
        "openvino_devices": openvino_devices(missing),
    }
    env["gpu"] = nvidia_smi(missing) if probe_gpu else None
    env["jetson"] = jetson_state(missing) if probe_jetson else None
    env["unavailable"] = missing
    return env


def machine_info() -> dict:
    """The facts a benchmark JSON records under "machine" (no Jetson probing: fast everywhere)."""
    return capture_environment(probe_gpu=True, probe_jetson=False)


def cpu_flags() -> set[str]:
    """The CPU's feature flags (/proc/cpuinfo "flags" on x86, "Features" on ARM); empty if unreadable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("flags", "features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_isa(flags: set[str] | None = None) -> list[str]:
    """The vector / matrix ISAs present, by their common names: ["AVX2", "AVX-512", "AVX-512 VNNI", ...]."""
    flags = cpu_flags() if flags is None else flags
    return [name for flag, name in ISA_FLAGS.items() if flag in flags]


def openvino_devices(missing: dict | None = None) -> list[str] | None:
    """``ov.Core().available_devices`` with full names ("CPU: Intel(R) Core...") or None (and why)."""
    missing = {} if missing is None else missing
    if not _installed("openvino"):
        missing["openvino_devices"] = "openvino is not installed (pip install openvino)"
        return None
    try:
        import openvino as ov

        core = ov.Core()
        return [f"{d}: {core.get_property(d, 'FULL_DEVICE_NAME')}" for d in core.available_devices]
    except Exception as e:  # noqa: BLE001 - a broken install or driver counts as no device
        missing["openvino_devices"] = f"openvino failed: {type(e).__name__}: {e}"
        return None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    """module -> version (None when not installed). Uses metadata; imports only as a last resort
    for modules already loaded or without metadata (e.g. Jetson's system tensorrt / cv2)."""
    out: dict[str, str | None] = {}
    for module, dists in PACKAGES.items():
        version = None
        for dist in dists:
            try:
                version = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        if version is None and module != "torch" and _installed(module):
            try:  # system packages (apt python3-opencv, python3-libnvinfer) carry no metadata
                version = str(getattr(importlib.import_module(module), "__version__", "installed"))
            except Exception:  # noqa: BLE001 - a broken install counts as absent
                version = None
        out[module] = version
    return out


def _installed(module: str) -> bool:
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _loadavg(missing: dict) -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError) as e:
        missing["loadavg"] = f"os.getloadavg() failed: {e}"
        return None


def _governor(missing: dict) -> str | None:
    path = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    try:
        return path.read_text().strip()
    except OSError:
        missing["cpu_governor"] = f"{path} not readable (no cpufreq in this VM / container)"
        return None


def _ort_providers(missing: dict) -> list[str] | None:
    if not _installed("onnxruntime"):
        missing["onnxruntime_providers"] = "onnxruntime is not installed"
        return None
    try:
        import onnxruntime

        return list(onnxruntime.get_available_providers())
    except Exception as e:  # noqa: BLE001
        missing["onnxruntime_providers"] = f"onnxruntime import failed: {e}"
        return None


def run_tool(cmd: list[str], timeout: float = TIMEOUT) -> tuple[str | None, str | None]:
    """(stdout, None) of a command, or (None, reason) when it is absent, fails or times out."""
    if shutil.which(cmd[0]) is None:
        return None, f"{cmd[0]} not found on PATH"
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"{' '.join(cmd)} timed out after {timeout:.0f} s"
    except OSError as e:
        return None, f"{' '.join(cmd)} could not run: {e}"
    if res.returncode != 0:
        err = (res.stderr or res.stdout).strip().splitlines()
        return None, f"{' '.join(cmd)} exited {res.returncode}: {err[0] if err else ''}".strip()
    return res.stdout, None


def nvidia_smi(missing: dict) -> list[dict] | None:
    """One dict per GPU: name, driver, clocks (MHz), power (W), temperature (C), memory (MiB)."""
    out, why = run_tool(["nvidia-smi", f"--query-gpu={','.join(GPU_FIELDS)}",
                         "--format=csv,noheader,nounits"])
    if out is None:
        missing["gpu"] = why or "nvidia-smi gave no output"
        return None
    gpus = []
    for line in out.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        gpus.append({k: _number(v) for k, v in zip(GPU_FIELDS, values)})
    if not gpus:
        missing["gpu"] = "nvidia-smi listed no GPU"
        return None
    return gpus


def _number(v: str):
    if v in ("[N/A]", "N/A", "[Not Supported]", ""):
        return None
    try:
        return float(v) if "." in v else int(v)
    except ValueError:
        return v


def is_jetson() -> bool:
    return Path("/etc/nv_tegra_release").exists() or "jetson" in _device_model().lower()


def _device_model() -> str:
    try:
        return Path("/proc/device-tree/model").read_text(errors="replace").strip("\x00 \n")
    except OSError:
        return ""


def jetson_state(missing: dict) -> dict | None:
    """Jetson model, L4T release, power mode (nvpmodel -q), clocks (jetson_clocks --show) and one
    tegrastats line. None (with the reason) on other machines."""
    if not is_jetson():
        missing["jetson"] = "not a Jetson (/etc/nv_tegra_release absent)"
        return None
    state: dict = {"model": _device_model() or None}
    try:
        state["l4t"] = Path("/etc/nv_tegra_release").read_text().splitlines()[0].strip("# ")
    except (OSError, IndexError) as e:
        state["l4t"] = None
        missing["jetson.l4t"] = f"/etc/nv_tegra_release not readable: {e}"
    out, why = run_tool(["nvpmodel", "-q"])
    state["power_mode"] = _power_mode(out) if out else None
    if out is None:
        missing["jetson.power_mode"] = why
    out, why = run_tool(["jetson_clocks", "--show"])
    state["clocks"] = out.strip() if out else None
    if out is None:
        missing["jetson.clocks"] = (why or "") + " (jetson_clocks --show usually needs sudo)"
    state["tegrastats"] = tegrastats_line(missing)
    return state


def _power_mode(text: str) -> dict:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    name = next((ln.split(":", 1)[1].strip() for ln in lines if "Power Mode" in ln), None)
    ids = [ln for ln in lines if ln.isdigit()]
    return {"name": name, "id": int(ids[0]) if ids else None, "raw": text.strip()}


def tegrastats_line(missing: dict, timeout: float = 5.0) -> str | None:
    """The first line tegrastats prints (RAM, CPU / GPU load and clocks, temperatures, power)."""
    if shutil.which("tegrastats") is None:
        missing["jetson.tegrastats"] = "tegrastats not found on PATH"
        return None
    try:
        proc = subprocess.Popen(["tegrastats", "--interval", "200"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    except OSError as e:
        missing["jetson.tegrastats"] = f"tegrastats could not run: {e}"
        return None
    try:
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        line = proc.stdout.readline().strip() if sel.select(timeout) else ""
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
    if not line:
        missing["jetson.tegrastats"] = f"tegrastats printed nothing within {timeout:.0f} s"
        return None
    return line
