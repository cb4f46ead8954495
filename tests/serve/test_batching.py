"""Dynamic batching in the real server (uvicorn, the tiny real ONNX model, real photos): concurrent
clients get exactly their own answers, batches really form (/health counts them), a lone request
completes, overload is a 503 with Retry-After, a request that breaks its batch fails alone.

A max delay of a minute makes "the batch is full" the only trigger in the tests that count batches,
so their counts are exact; no test depends on how fast this machine is."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from serve_helpers import request, running_server  # noqa: E402
from stream_helpers import SlowPredictor  # noqa: E402

from edgefashion.errors import BadInput  # noqa: E402
from edgefashion.runtime.predictor import Predictor  # noqa: E402
from edgefashion.serve import ServeConfig, create_app  # noqa: E402

pytestmark = pytest.mark.needs_data
LONG_MS = 60_000


class FlatRefusingPredictor(Predictor):
    """The real Predictor behind an engine that refuses a whole batch holding a flat image (as an
    engine with an input check would): the server must fail only that image's request."""

    def infer(self, x: np.ndarray, known=None) -> dict[str, np.ndarray]:
        flat = [i for i in range(len(x)) if float(x[i].std(axis=(1, 2)).max()) < 1e-6]
        if flat:
            raise BadInput(f"batch rows {flat} are flat images; send a photo")
        return super().infer(x, known)


def assert_same(d: dict, ref) -> None:
    """The server's answer is the Predictor's own answer for that image."""
    assert d["category"]["label"] == ref.category.label, (d["category"], ref.category)
    assert d["category"]["score"] == pytest.approx(ref.category.score, abs=1e-5)
    assert d["attributes"] == ref.attributes
    assert d["scores"] == pytest.approx(ref.scores, abs=1e-5)


def fire(host: str, bodies: list[bytes]) -> list[tuple[int, dict, dict]]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda b: request(host, "POST", "/predict", b, timeout=120), bodies))


def test_concurrent_clients_get_their_own_answers_in_full_batches(predictor, photos):
    app = create_app(predictor, ServeConfig(concurrency=2, max_batch=8, max_delay_ms=LONG_MS))
    jobs = [photos[(7 * i) % len(photos)] for i in range(32)]
    refs = {p: predictor(str(p)) for p in set(jobs)}
    with running_server(app) as host:
        answers = fire(host, [p.read_bytes() for p in jobs])
        _, health, _ = request(host, "GET", "/health")
    assert [s for s, _, _ in answers] == [200] * 32, [d for s, d, _ in answers if s != 200]
    for p, (_, d, _) in zip(jobs, answers):
        assert_same(d, refs[p])
        assert d["batch"]["size"] == 8
    b = health["batching"]
    assert b["batch_sizes"] == {"8": 4} and b["requests"] == 32 and b["mean_batch_size"] == 8.0
    assert health["answered"] == 32 and health["in_progress"] == 0 and b["queued"] == 0


def test_batches_form_under_load_with_a_short_delay(serve_onnx, predictor, photos):
    """While the only worker runs one batch (slowed to 0.3 s), the other requests queue up and run
    together: fewer batches than requests, every answer its own."""
    slow = SlowPredictor(serve_onnx, 0.3, threads=1)
    app = create_app(slow, ServeConfig(concurrency=1, max_batch=16, max_delay_ms=5))
    jobs = photos[:16]
    refs = {p: predictor(str(p)) for p in jobs}
    with running_server(app) as host:
        answers = fire(host, [p.read_bytes() for p in jobs])
        _, health, _ = request(host, "GET", "/health")
    assert [s for s, _, _ in answers] == [200] * 16
    for p, (_, d, _) in zip(jobs, answers):
        assert_same(d, refs[p])
    b = health["batching"]
    assert b["requests"] == 16 and b["batches"] < 16 and max(map(int, b["batch_sizes"])) > 1
    assert sum(int(k) * v for k, v in b["batch_sizes"].items()) == 16


def test_a_lone_request_is_not_held_for_a_batch(predictor, photos):
    app = create_app(predictor, ServeConfig(max_batch=32, max_delay_ms=50))
    with running_server(app) as host:
        status, d, _ = request(host, "POST", "/predict", photos[4].read_bytes())
        _, health, _ = request(host, "GET", "/health")
    assert status == 200 and d["batch"]["size"] == 1
    assert_same(d, predictor(str(photos[4])))
    assert health["batching"]["batch_sizes"] == {"1": 1}


def test_max_batch_1_runs_each_request_alone(predictor, photos):
    app = create_app(predictor, ServeConfig(concurrency=2, max_batch=1))
    with running_server(app) as host:
        answers = fire(host, [p.read_bytes() for p in photos[:10]])
        _, health, _ = request(host, "GET", "/health")
    assert {s for s, _, _ in answers} == {200} and {d["batch"]["size"] for _, d, _ in answers} == {1}
    assert health["batching"]["batch_sizes"] == {"1": 10}


def test_overload_is_503_with_retry_after_while_batching(serve_onnx, photos):
    slow = SlowPredictor(serve_onnx, 0.5, threads=1)
    app = create_app(slow, ServeConfig(concurrency=1, queue=3, max_batch=4, max_delay_ms=5))
    data = photos[2].read_bytes()
    with running_server(app) as host:
        answers = fire(host, [data] * 12)
        _, health, _ = request(host, "GET", "/health")
    codes = sorted(s for s, _, _ in answers)
    assert set(codes) <= {200, 503} and codes.count(200) >= 1 and codes.count(503) >= 1, codes
    for s, d, h in answers:
        if s == 503:
            assert d["error"]["type"] == "Busy" and h.get("retry-after") == "1"
    assert health["answered"] == codes.count(200) == health["batching"]["requests"]


def test_a_bad_image_in_a_batch_fails_only_its_own_request(serve_onnx, predictor, photos):
    refusing = FlatRefusingPredictor(serve_onnx, threads=1)
    flat = cv2.imencode(".png", np.full((96, 80, 3), 128, np.uint8))[1].tobytes()
    corrupt = photos[5].read_bytes()[:300]  # refused at decoding, before any batch
    good = photos[:7]
    refs = {p: predictor(str(p)) for p in good}
    bodies = [p.read_bytes() for p in good[:3]] + [flat] + [p.read_bytes() for p in good[3:]]
    app = create_app(refusing, ServeConfig(concurrency=1, max_batch=8, max_delay_ms=LONG_MS))
    with running_server(app) as host:
        answers = fire(host, [corrupt] + bodies)  # the 8 decodable images fill one batch
        _, health, _ = request(host, "GET", "/health")
    status, d, _ = answers[0]
    assert status == 400 and d["error"]["type"] == "ImageDecodeError"
    status, d, _ = answers[4]
    assert status == 400 and d["error"]["type"] == "BadInput" and "flat" in d["error"]["message"]
    for p, (s, d, _) in zip(good, answers[1:4] + answers[5:]):
        assert s == 200, d
        assert_same(d, refs[p])
    b = health["batching"]
    assert b["batch_sizes"]["8"] == 1 and b["isolation_reruns"] == 1 and b["failed_items"] == 1
