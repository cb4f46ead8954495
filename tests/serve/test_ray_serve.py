"""``serve --runner ray`` on a real local Ray Serve (2 CPUs): two replicas behind Serve's HTTP
proxy, concurrent clients, every answer equal to the Predictor's own; batches form through
@serve.batch; the same page, /health and error answers as the single-machine server.

A deadline (SIGALRM) ends the module's tests rather than letting a stuck deployment hang CI."""
from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("ray.serve")

from serve_helpers import free_port, request  # noqa: E402

from edgefashion.runtime.predictor import Predictor  # noqa: E402
from edgefashion.serve import ServeConfig  # noqa: E402

pytestmark = pytest.mark.needs_data
DEADLINE_S = 300
N_REQUESTS = 24


@pytest.fixture(scope="module")
def ray_serve_host(serve_onnx):
    """A local Ray (reused if a test session started one) with this model on 2 replicas."""
    import ray
    from ray import serve

    from edgefashion.deploy.ray_serve import deploy

    signal.signal(signal.SIGALRM, _expire)
    signal.alarm(DEADLINE_S)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
                 log_to_driver=False)
    port = free_port()
    cfg = ServeConfig(port=port, max_batch=4, max_delay_ms=100, max_upload_mb=1)
    try:
        deploy(serve_onnx, cfg, replicas=2, cpus_per_replica=0.5, threads=1)
        yield f"127.0.0.1:{port}"
    finally:
        serve.shutdown()
        if started:
            ray.shutdown()
        signal.alarm(0)


def _expire(signum, frame):
    raise TimeoutError(f"Ray Serve test ran past {DEADLINE_S} s")


def test_concurrent_clients_get_the_predictors_own_answers(ray_serve_host, serve_onnx, photos):
    bodies = [photos[i % len(photos)].read_bytes() for i in range(N_REQUESTS)]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda b: request(ray_serve_host, "POST", "/predict?top_k=3", b,
                                                  timeout=120), bodies))
    with Predictor(serve_onnx, threads=1) as p:
        refs = [p(b, top_k=3) for b in bodies]
    for (status, d, _), ref in zip(answers, refs):
        assert status == 200, d
        assert d["category"]["label"] == ref.category.label
        assert d["category"]["score"] == pytest.approx(ref.category.score, abs=1e-5)
        assert [t[0] for t in d["category"]["top"]] == [n for n, _ in ref.category.top(3)]
        assert d["attributes"] == ref.attributes
        assert d["scores"] == pytest.approx(ref.scores, abs=1e-5)
    sizes = [d["batch"]["size"] for _, d, _ in answers]
    assert max(sizes) > 1, f"no request was batched with another: {sizes}"
    assert max(sizes) <= 4


def test_same_page_health_and_errors_as_the_local_server(ray_serve_host, serve_onnx):
    status, health, _ = request(ray_serve_host, "GET", "/health")
    assert status == 200 and health["status"] == "ok"
    assert health["batching"]["engine"] == "ray-serve" and health["batching"]["max_batch"] == 4
    assert health["model"]["path"].endswith(serve_onnx.name)
    with Predictor(serve_onnx) as p:
        assert health["labels"]["categories"] == list(p.schema.category_names)
    status, err, _ = request(ray_serve_host, "POST", "/predict", b"not an image")
    assert status == 400 and err["error"]["type"] == "ImageDecodeError"
    status, err, _ = request(ray_serve_host, "POST", "/predict", b"x" * (2 * 2**20))
    assert status == 413
    import http.client

    conn = http.client.HTTPConnection(ray_serve_host, timeout=60)
    conn.request("GET", "/")
    page = conn.getresponse()
    assert page.status == 200 and b"<html" in page.read().lower()
    conn.close()


def test_cli_serve_engine_ray_refuses_a_live_source(serve_onnx, capsys):
    from edgefashion.cli.main import main

    assert main(["serve", "--model", str(serve_onnx), "--runner", "ray", "--source", "0"]) == 2
    assert "--source (a live camera) is served by the local engine only" in capsys.readouterr().err
