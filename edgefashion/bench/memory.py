"""Peak memory: process RSS high-water mark and, when PyTorch runs on CUDA, its peak allocation.

On Linux the RSS high-water mark (VmHWM) can be reset by writing "5" to /proc/self/clear_refs, so
each measured section gets its own peak. Where that is not possible the process-lifetime peak from
``resource.getrusage`` is used and marked ``scope="process"``. psutil, when installed, gives the
current RSS on any OS.
"""
from __future__ import annotations

import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def current_rss_mib() -> float | None:
    """Resident set size now, MiB."""
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib / 1024
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return None


def process_peak_rss_mib() -> float | None:
    """This process's own peak RSS, MiB: VmHWM (fresh after exec) where Linux gives it.

    ``getrusage``'s ru_maxrss is not used first because Linux carries it over from the parent
    through fork + exec, so a small child of a large parent would report the parent's peak.
    """
    kib = _status_kib("VmHWM")
    return kib / 1024 if kib is not None else lifetime_peak_rss_mib()


def lifetime_peak_rss_mib() -> float | None:
    """Peak RSS since the process started (getrusage; on Linux includes the parent's before exec)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB else


class PeakMemory:
    """Measure peak memory over a ``with`` block.

        with PeakMemory(cuda=True) as mem:
            run()
        mem.result  # {"rss_peak_mib", "rss_start_mib", "rss_end_mib", "scope", "cuda_peak_mib", ...}
    """

    def __init__(self, cuda: bool = False) -> None:
        self.cuda = cuda
        self.result: dict = {}

    def __enter__(self) -> "PeakMemory":
        self.scope = "section" if _reset_hwm() else "process"
        self.start = current_rss_mib()
        self._torch = _cuda_torch() if self.cuda else None
        if self._torch is not None:
            self._torch.cuda.synchronize()
            self._torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc) -> None:
        hwm = _status_kib("VmHWM")
        peak = hwm / 1024 if self.scope == "section" and hwm is not None else lifetime_peak_rss_mib()
        self.result = {"rss_peak_mib": _r(peak), "rss_start_mib": _r(self.start),
                       "rss_end_mib": _r(current_rss_mib()), "scope": self.scope,
                       "rss_growth_mib": _r(peak - self.start) if None not in (peak, self.start) else None}
        if self._torch is not None:
            self._torch.cuda.synchronize()
            self.result["cuda_peak_mib"] = _r(self._torch.cuda.max_memory_allocated() / 2**20)
            self.result["cuda_reserved_peak_mib"] = _r(self._torch.cuda.max_memory_reserved() / 2**20)
        elif self.cuda:
            self.result["cuda_peak_mib"] = None
            self.result["cuda_note"] = ("CUDA peak is read from PyTorch's allocator only; ONNX Runtime "
                                        "and TensorRT allocations show in nvidia-smi memory.used")


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return _status_kib("VmHWM") is not None
    except OSError:
        return False


def _cuda_torch():
    torch = sys.modules.get("torch")  # only when the benchmark already uses torch
    if torch is not None and torch.cuda.is_available():
        return torch
    return None


def _r(v: float | None) -> float | None:
    return None if v is None else round(float(v), 1)
