"""A one-slot mailbox between threads: the newest item replaces an unread one (which is counted).

A queue would grow when the consumer is slower than the producer (latency and memory climb with
it); a mailbox keeps at most one item waiting, so the consumer always gets the freshest frame.
"""
from __future__ import annotations

import threading
import time
from typing import Any

EMPTY = object()   # get() timed out
CLOSED = object()  # the producer closed the mailbox and nothing is left in it


class Mailbox:
    """put() / get() / close(); ``dropped`` counts items replaced before anyone read them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._full = False
        self._closed = False
        self.dropped = 0

    def put(self, item: Any, block: bool = False, timeout: float | None = None) -> bool:
        """Leave ``item``. block=False: replace an unread item (dropped += 1). block=True: wait
        until the slot is free (no drops). False when the mailbox is closed or the wait timed out."""
        with self._cond:
            if block and not self._cond.wait_for(lambda: not self._full or self._closed, timeout):
                return False
            if self._closed:
                return False
            if self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> Any:
        """The waiting item, else wait for one. EMPTY after ``timeout``; CLOSED when closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._full or self._closed, timeout)
            if self._full:
                item, self._item, self._full = self._item, None, False
                self._cond.notify_all()
                return item
            return CLOSED if self._closed else EMPTY

    def wait_empty(self, timeout: float | None = None) -> bool:
        """Wait until the slot is free (or the mailbox closed); False on timeout or when closed."""
        with self._cond:
            self._cond.wait_for(lambda: not self._full or self._closed, timeout)
            return not self._full and not self._closed

    def close(self) -> None:
        """No more puts; a waiting item can still be read, then get() returns CLOSED."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def discard(self) -> None:
        """Drop a waiting item without counting it (used when stopping)."""
        with self._cond:
            self._item, self._full = None, False
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


def sleep_until(deadline: float, stop: threading.Event) -> bool:
    """Sleep until time.perf_counter() reaches ``deadline``; False when ``stop`` was set meanwhile."""
    delay = deadline - time.perf_counter()
    if delay > 0:
        return not stop.wait(delay)
    return not stop.is_set()
