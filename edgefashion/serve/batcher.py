"""A dynamic batcher with Triton's semantics, engine-agnostic: concurrent callers' items are grouped
into one call of ``run(items) -> results``.

    batcher = DynamicBatcher(run, max_batch=8, max_delay_ms=2.0, max_queue=128, workers=1)
    future = batcher.submit(item)          # concurrent.futures.Future; asyncio.wrap_future() it
    result = future.result()
    batcher.stats()                        # batch-size histogram, requests, batches
    batcher.close()                        # runs what is queued, then stops the workers

Semantics (Triton's dynamic batcher): a batch runs as soon as ``max_batch`` items wait, or as soon
as one of the ``preferred`` sizes can be formed, or when the oldest waiting item has waited
``max_delay_ms``; then it takes as many items as are waiting, up to ``max_batch`` (with preferred
sizes: the largest preferred size that fits, when one does). ``max_batch=1`` runs every item alone
at once (no waiting). A full queue (``max_queue`` items waiting) refuses new items with QueueFull.

``run`` gets a list of items and returns one result per item, in order; a result that is an
Exception instance fails only its own item. When ``run`` raises for a batch of several items, each
item is rerun alone, so one bad item fails only its own caller (``isolate_errors``). The batcher
holds no engine: a Predictor, a TensorRT engine or a Ray Serve replica can sit behind ``run``.
"""
from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from edgefashion.errors import BadInput, EdgeFashionError

RunBatch = Callable[[list], Sequence[Any]]


class QueueFull(EdgeFashionError, RuntimeError):
    """The batcher's queue holds ``max_queue`` items; retry later (the server answers 503)."""


class BatcherClosed(EdgeFashionError, RuntimeError):
    """An item was submitted to a batcher that has been closed."""


@dataclass
class _Pending:
    item: Any
    future: Future
    t: float = field(default_factory=time.monotonic)


class DynamicBatcher:
    """See the module docstring. workers: threads that each form and run batches (while one runs
    a batch, another gathers the next); run must then be safe to call from several threads."""

    def __init__(self, run: RunBatch, max_batch: int = 8, max_delay_ms: float = 2.0,
                 max_queue: int | None = None, preferred: Sequence[int] = (), workers: int = 1,
                 isolate_errors: bool = True, name: str = "edgefashion-batcher") -> None:
        if int(max_batch) < 1 or float(max_delay_ms) < 0 or int(workers) < 1:
            raise BadInput(f"max_batch={max_batch} and workers={workers} must be >= 1 and "
                           f"max_delay_ms={max_delay_ms} >= 0")
        if max_queue is not None and int(max_queue) < 1:
            raise BadInput(f"max_queue={max_queue} must be >= 1 (or None for no bound)")
        bad = [p for p in preferred if not 1 <= int(p) <= int(max_batch)]
        if bad:
            raise BadInput(f"preferred batch sizes {bad} must lie in 1..max_batch={max_batch}")
        self.run, self.max_batch = run, int(max_batch)
        self.max_delay = float(max_delay_ms) / 1e3
        self.max_queue = None if max_queue is None else int(max_queue)
        self.preferred = sorted({int(p) for p in preferred}, reverse=True)
        self.isolate_errors = bool(isolate_errors)
        self._pending: collections.deque[_Pending] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._sizes: collections.Counter[int] = collections.Counter()
        self._requests = self._failed = self._reruns = 0
        self._wait_ms_max = 0.0
        self._threads = [threading.Thread(target=self._worker, name=f"{name}-{i}", daemon=True)
                         for i in range(int(workers))]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ callers
    def submit(self, item: Any) -> Future:
        """Queue ``item``; the Future gets its result (or its exception)."""
        fut: Future = Future()
        with self._cond:
            if self._closed:
                raise BatcherClosed("the batcher is closed; no new items are accepted")
            if self.max_queue is not None and len(self._pending) >= self.max_queue:
                raise QueueFull(f"{len(self._pending)} items wait (max_queue={self.max_queue}); "
                                "retry shortly")
            self._pending.append(_Pending(item, fut))
            self._cond.notify()
        return fut

    def __call__(self, item: Any, timeout: float | None = None) -> Any:
        """Submit and wait: the result for ``item`` (its exception is raised)."""
        return self.submit(item).result(timeout)

    @property
    def queued(self) -> int:
        return len(self._pending)

    def stats(self) -> dict:
        """JSON-able counters: batches by size, requests, mean batch size, longest queue wait."""
        with self._cond:
            sizes = dict(sorted(self._sizes.items()))
            batches = sum(sizes.values())
            items = sum(k * v for k, v in sizes.items())
            return {"max_batch": self.max_batch, "max_delay_ms": self.max_delay * 1e3,
                    "preferred": sorted(self.preferred), "max_queue": self.max_queue,
                    "workers": len(self._threads), "queued": len(self._pending),
                    "requests": self._requests, "batches": batches,
                    "mean_batch_size": round(items / batches, 3) if batches else 0.0,
                    "batch_sizes": {str(k): v for k, v in sizes.items()},
                    "failed_items": self._failed, "isolation_reruns": self._reruns,
                    "max_queue_wait_ms": round(self._wait_ms_max, 3)}

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop accepting items, run those already queued, join the workers."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)

    def __enter__(self) -> DynamicBatcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ workers
    def _worker(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._execute(batch)

    def _next_batch(self) -> list[_Pending] | None:
        """Block until a batch is due (full, preferred size, oldest waited max delay, or closing);
        None when closed and drained. Cancelled items are dropped here."""
        with self._cond:
            while True:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return None
                n = self._due_size()
                if n:
                    break
                left = self._pending[0].t + self.max_delay - time.monotonic()
                self._cond.wait(max(left, 0.0))
            now = time.monotonic()
            taken = [self._pending.popleft() for _ in range(n)]
            batch = [p for p in taken if p.future.set_running_or_notify_cancel()]
            if batch:
                self._sizes[len(batch)] += 1
                self._requests += len(batch)
                self._wait_ms_max = max(self._wait_ms_max, (now - batch[0].t) * 1e3)
            if self._pending:
                self._cond.notify()  # another worker may start gathering the rest
            return batch

    def _due_size(self) -> int:
        """How many items to take now (0: keep waiting). Called with the lock held."""
        n = len(self._pending)
        if n >= self.max_batch:
            return self.max_batch
        if self.preferred and n in self.preferred:
            return n
        if self._closed or time.monotonic() - self._pending[0].t >= self.max_delay:
            fit = [p for p in self.preferred if p <= n]
            return fit[0] if fit else n
        return 0

    def _execute(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        try:
            results = list(self.run([p.item for p in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"the batch function returned {len(results)} results for "
                                   f"{len(batch)} items; it must return one per item")
        except BaseException as e:  # noqa: BLE001 - every caller must get an answer
            if len(batch) > 1 and self.isolate_errors and isinstance(e, Exception):
                with self._cond:
                    self._reruns += 1
                for p in batch:  # rerun alone: only the culprit fails
                    self._execute_one(p)
                return
            results = [e] * len(batch)
        for p, r in zip(batch, results):
            self._settle(p, r)

    def _execute_one(self, p: _Pending) -> None:
        try:
            r = list(self.run([p.item]))
            r = r[0] if len(r) == 1 else RuntimeError(
                f"the batch function returned {len(r)} results for 1 item")
        except Exception as e:  # noqa: BLE001
            r = e
        self._settle(p, r)

    def _settle(self, p: _Pending, r: Any) -> None:
        if isinstance(r, BaseException):
            with self._cond:
                self._failed += 1
            p.future.set_exception(r)
        else:
            p.future.set_result(r)
