"""``--runner local``: TagWorkers in threads, no Ray.

``workers`` TagWorkers (one Predictor each) take blocks from a bounded window; the blocks' tables
come back in source order and go to ``write``. ONNX Runtime, OpenCV and file reads release the
GIL, so threads scale across cores the way Ray's actors do, without the processes.
"""
from __future__ import annotations

import os
import queue
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from edgefashion.tag.options import TagOptions
from edgefashion.tag.rows import paths_table
from edgefashion.tag.worker import TagWorker


def run_local(model: str, blocks: Sequence[list[str]], opts: TagOptions,
              write: Callable[[object], None]) -> None:
    """Tag every block with ``opts.workers`` in-process TagWorkers; ``write(table)`` per block."""
    n = max(1, min(int(opts.workers), len(blocks)))
    cpus = opts.cpus_per_worker or max(1.0, (os.cpu_count() or 1) / n)
    workers = [TagWorker(model, opts.top_k, opts.batch_size, opts.decode_threads, opts.threshold,
                         opts.predictor_options(cpus)) for _ in range(n)]
    idle: queue.Queue = queue.Queue()
    for w in workers:
        idle.put(w)

    def work(block: list[str]):
        w = idle.get()
        try:
            return w(paths_table(block))
        finally:
            idle.put(w)

    try:
        with ThreadPoolExecutor(n, thread_name_prefix="tag-worker") as ex:
            it = iter(blocks)
            window: deque = deque(ex.submit(work, b) for _, b in zip(range(2 * n), it))
            try:
                while window:
                    table = window.popleft().result()
                    nxt = next(it, None)
                    if nxt is not None:
                        window.append(ex.submit(work, nxt))
                    write(table)
            except BaseException:  # Ctrl-C or a failed write: queued blocks are not started
                for f in window:
                    f.cancel()
                raise
    finally:
        for w in workers:
            w.close()
