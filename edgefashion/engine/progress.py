"""Build progress: TensorRT 10+'s IProgressMonitor phases, or a ticking line on 8.x (no phases there).

``ProgressPrinter`` renders the phase events (plain Python, tested without TensorRT);
``make_progress_monitor`` wraps it in an ``IProgressMonitor`` subclass; ``Ticker`` prints elapsed time
while a TensorRT 8.x build runs.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class ProgressPrinter:
    """Prints ``[build] Phase > Sub-phase 3/12`` lines, at most one per ``interval`` seconds per phase
    (first and last steps always). ``events`` keeps what happened (for tests and the build report)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.5, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = float(interval)
        self.enabled = enabled
        self.events: list[tuple] = []
        self._phases: dict[str, tuple] = {}  # name -> (parent, num_steps)
        self._last: dict[str, float] = {}
        self.cancelled = False
        self._lock = threading.Lock()

    def _path(self, name: str) -> str:
        parts, seen = [name], {name}
        parent = self._phases.get(name, (None, 0))[0]
        while parent and parent not in seen:
            parts.append(parent)
            seen.add(parent)
            parent = self._phases.get(parent, (None, 0))[0]
        return " > ".join(reversed(parts))

    def _print(self, text: str) -> None:
        if self.enabled:
            print(f"[build] {text}", file=self.stream, flush=True)

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        with self._lock:
            self._phases[phase_name] = (parent_phase, int(num_steps))
            self.events.append(("start", phase_name, parent_phase, int(num_steps)))
            self._last[phase_name] = time.monotonic()
            self._print(f"{self._path(phase_name)} ({num_steps} steps)")

    def step_complete(self, phase_name: str, step: int) -> bool:
        """Returns False to ask TensorRT to cancel the build (after ``cancel()``)."""
        with self._lock:
            self.events.append(("step", phase_name, int(step)))
            total = self._phases.get(phase_name, (None, 0))[1]
            now = time.monotonic()
            last_step = total and int(step) + 1 >= total
            if last_step or now - self._last.get(phase_name, 0.0) >= self.interval:
                self._last[phase_name] = now
                self._print(f"{self._path(phase_name)} {int(step) + 1}/{total}")
            return not self.cancelled

    def phase_finish(self, phase_name: str) -> None:
        with self._lock:
            self.events.append(("finish", phase_name))
            self._phases.pop(phase_name, None)

    def cancel(self) -> None:
        self.cancelled = True


def make_progress_monitor(trt, printer: ProgressPrinter):
    """An ``IProgressMonitor`` (TensorRT 10+) forwarding to ``printer``."""

    class _Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name, parent_phase, num_steps):
            printer.phase_start(phase_name, parent_phase, num_steps)

        def step_complete(self, phase_name, step):
            return printer.step_complete(phase_name, step)

        def phase_finish(self, phase_name):
            printer.phase_finish(phase_name)

    return _Monitor()


class Ticker:
    """``with Ticker("building engine"):`` prints the elapsed time every ``every`` seconds (TensorRT 8.x)."""

    def __init__(self, label: str, every: float = 10.0, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.label, self.every, self.enabled = label, float(every), enabled
        self.stream = stream if stream is not None else sys.stderr
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.start = 0.0
        self.ticks = 0

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.ticks += 1
            print(f"[build] {self.label}... {time.monotonic() - self.start:.0f} s", file=self.stream, flush=True)

    def __enter__(self) -> "Ticker":
        self.start = time.monotonic()
        if self.enabled:
            print(f"[build] {self.label} (TensorRT reports no phases before 10.0)", file=self.stream, flush=True)
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.elapsed = time.monotonic() - self.start
