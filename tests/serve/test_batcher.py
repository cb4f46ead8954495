"""DynamicBatcher on its own: Triton's semantics with a plain batch function (the batcher is
engine-agnostic, so a function over a list of items is its real input). No timing thresholds: a
long max delay makes "full" the only trigger, a lone item must simply complete."""
from __future__ import annotations

import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor

import pytest

from edgefashion.errors import BadInput
from edgefashion.serve.batcher import BatcherClosed, DynamicBatcher, QueueFull

LONG_MS = 60_000  # so long that a test finishing in time proves another trigger ran the batch
WAIT_S = 30


class Recorder:
    """A batch function that doubles each item and records the batches it was given."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list] = []
        self.entered = threading.Event()
        self.gate = gate
        self.lock = threading.Lock()

    def __call__(self, items: list) -> list:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(WAIT_S)
        with self.lock:
            self.batches.append(list(items))
        return [2 * i for i in items]


def test_full_batches_run_without_waiting_and_route_each_result():
    rec = Recorder()
    with DynamicBatcher(rec, max_batch=4, max_delay_ms=LONG_MS, workers=2) as b:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: (i, b(i, timeout=WAIT_S)), range(8)))
        stats = b.stats()
    assert all(r == 2 * i for i, r in results)
    assert sorted(len(x) for x in rec.batches) == [4, 4]
    assert sorted(i for x in rec.batches for i in x) == list(range(8))
    assert stats["batch_sizes"] == {"4": 2} and stats["requests"] == 8
    assert stats["mean_batch_size"] == 4.0 and stats["queued"] == 0


def test_a_lone_item_is_not_held_forever():
    rec = Recorder()
    with DynamicBatcher(rec, max_batch=8, max_delay_ms=20) as b:
        assert b.submit(21).result(WAIT_S) == 42
        assert b.stats()["batch_sizes"] == {"1": 1}


def test_max_batch_1_runs_every_item_alone():
    rec = Recorder()
    with DynamicBatcher(rec, max_batch=1, max_delay_ms=LONG_MS) as b:
        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(lambda i: b(i, WAIT_S), range(6))) == [0, 2, 4, 6, 8, 10]
        assert b.stats()["batch_sizes"] == {"1": 6}


def test_a_preferred_size_runs_at_once():
    rec = Recorder()
    with DynamicBatcher(rec, max_batch=8, max_delay_ms=LONG_MS, preferred=[2]) as b:
        futures = [b.submit(1), b.submit(2)]
        assert [f.result(WAIT_S) for f in futures] == [2, 4]
        assert b.stats()["batch_sizes"] == {"2": 1}


def test_items_waiting_past_the_delay_run_as_one_batch():
    gate = threading.Event()
    rec = Recorder(gate)
    with DynamicBatcher(rec, max_batch=8, max_delay_ms=0, workers=1) as b:
        first = b.submit(0)
        assert rec.entered.wait(WAIT_S)  # the worker is busy with [0]; the next five queue up
        rest = [b.submit(i) for i in range(1, 6)]
        gate.set()
        assert [f.result(WAIT_S) for f in [first, *rest]] == [0, 2, 4, 6, 8, 10]
    assert [len(x) for x in rec.batches] == [1, 5]


def test_an_exception_result_fails_only_its_item():
    def run(items):
        return [BadInput(f"item {i} is bad") if i == 3 else i for i in items]

    with DynamicBatcher(run, max_batch=6, max_delay_ms=LONG_MS) as b:
        futures = [b.submit(i) for i in range(6)]
        with pytest.raises(BadInput, match="item 3 is bad"):
            futures[3].result(WAIT_S)
        assert [f.result(WAIT_S) for i, f in enumerate(futures) if i != 3] == [0, 1, 2, 4, 5]
        assert b.stats()["failed_items"] == 1


def test_a_batch_that_raises_is_rerun_item_by_item():
    calls = []

    def run(items):  # an engine that refuses a whole batch when one input is bad
        calls.append(list(items))
        if "bad" in items:
            raise BadInput("a bad input in the batch")
        return [s.upper() for s in items]

    with DynamicBatcher(run, max_batch=4, max_delay_ms=LONG_MS) as b:
        futures = [b.submit(s) for s in ("a", "bad", "c", "d")]
        with pytest.raises(BadInput):
            futures[1].result(WAIT_S)
        assert [futures[i].result(WAIT_S) for i in (0, 2, 3)] == ["A", "C", "D"]
        stats = b.stats()
    assert calls[0] == ["a", "bad", "c", "d"] and sorted(map(tuple, calls[1:])) == [
        ("a",), ("bad",), ("c",), ("d",)]
    assert stats["isolation_reruns"] == 1 and stats["failed_items"] == 1


def test_a_wrong_number_of_results_fails_the_batch_with_a_message():
    with DynamicBatcher(lambda items: items[:1], max_batch=2, max_delay_ms=LONG_MS,
                        isolate_errors=False) as b:
        futures = [b.submit(1), b.submit(2)]
        for f in futures:
            with pytest.raises(RuntimeError, match="returned 1 results for 2 items"):
                f.result(WAIT_S)


def test_a_full_queue_refuses_new_items():
    gate = threading.Event()
    rec = Recorder(gate)
    b = DynamicBatcher(rec, max_batch=1, max_delay_ms=0, max_queue=2, workers=1)
    try:
        running = b.submit(0)
        assert rec.entered.wait(WAIT_S)
        waiting = [b.submit(1), b.submit(2)]
        with pytest.raises(QueueFull, match="max_queue=2"):
            b.submit(3)
        gate.set()
        assert [f.result(WAIT_S) for f in [running, *waiting]] == [0, 2, 4]
    finally:
        gate.set()
        b.close()


def test_a_cancelled_item_is_dropped():
    gate = threading.Event()
    rec = Recorder(gate)
    with DynamicBatcher(rec, max_batch=1, max_delay_ms=0, workers=1) as b:
        first = b.submit(0)
        assert rec.entered.wait(WAIT_S)
        dropped, kept = b.submit(1), b.submit(2)
        assert dropped.cancel()
        gate.set()
        assert first.result(WAIT_S) == 0 and kept.result(WAIT_S) == 4
        with pytest.raises(CancelledError):
            dropped.result(0)
    assert [x for batch in rec.batches for x in batch] == [0, 2]


def test_close_runs_what_is_queued_then_refuses():
    rec = Recorder()
    b = DynamicBatcher(rec, max_batch=8, max_delay_ms=LONG_MS)
    futures = [b.submit(i) for i in range(3)]
    b.close()
    assert [f.result(0) for f in futures] == [0, 2, 4]
    with pytest.raises(BatcherClosed):
        b.submit(9)


@pytest.mark.parametrize("kw", [{"max_batch": 0}, {"max_delay_ms": -1}, {"workers": 0},
                                {"max_queue": 0}, {"preferred": [9]}])
def test_bad_settings_are_refused(kw):
    with pytest.raises(BadInput):
        DynamicBatcher(lambda items: items, **{"max_batch": 8, **kw})
