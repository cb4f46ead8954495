"""The HTTP API against a real uvicorn server: uploads, bad uploads, limits, 100 concurrent calls."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from serve_helpers import multipart, request, running_server  # noqa: E402
from stream_helpers import SlowPredictor  # noqa: E402

from edgefashion.serve import ServeConfig, create_app  # noqa: E402

pytestmark = pytest.mark.needs_data


def test_health_names_the_model(live_server, predictor):
    status, d, _ = request(live_server, "GET", "/health")
    assert status == 200 and d["status"] == "ok"
    assert d["model"]["model"] == "msfan" and d["model"]["backend"] == "onnxruntime"
    assert d["labels"]["categories"] == list(predictor.schema.category_names)
    assert d["limits"]["max_pixels"] == 2_000_000 and d["live"]["running"]


def test_predict_multipart_and_raw_body_match_the_predictor(live_server, predictor, photos):
    data = photos[0].read_bytes()
    ref = predictor(str(photos[0]))
    body, headers = multipart({"file": (photos[0].name, data, "image/jpeg")})
    for b, h in ((body, headers), (data, {"Content-Type": "image/jpeg"})):
        status, d, _ = request(live_server, "POST", "/predict", b, h)
        assert status == 200, d
        assert d["category"]["label"] == ref.category.label
        assert d["category"]["score"] == pytest.approx(ref.category.score, abs=1e-5)
        assert d["attributes"] == ref.attributes and d["error"] is None
        assert d["image"] == {"width": ref_shape(photos[0])[1], "height": ref_shape(photos[0])[0]}
    status, d, _ = request(live_server, "POST", "/predict?overlay=true&top_k=2", data)
    assert status == 200 and d["overlay"].startswith("data:image/jpeg;base64,")
    assert len(d["category"]["top"]) == 2


def ref_shape(path) -> tuple[int, int]:
    return cv2.imread(str(path)).shape[:2]


@pytest.mark.parametrize("case", ["empty", "truncated", "text", "too_big", "too_many_pixels",
                                  "no_file_field", "bad_top_k"])
def test_bad_uploads_get_json_errors(live_server, photos, case):
    jpeg = photos[1].read_bytes()
    big = np.random.default_rng(0).integers(0, 255, (1500, 1500, 3), np.uint8)
    body, headers = {
        "empty": (b"", {}),
        "truncated": (jpeg[: len(jpeg) // 2], {"Content-Type": "image/jpeg"}),
        "text": multipart({"file": ("notes.txt", b"just some words, not a photo", "text/plain")}),
        "too_big": (b"\xff\xd8" + b"\0" * (2**20 + 10), {"Content-Type": "image/jpeg"}),
        "too_many_pixels": (cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 10])[1].tobytes(), {}),
        "no_file_field": multipart({"comment": "hello"}),
        "bad_top_k": (jpeg, {}),
    }[case]
    path = "/predict?top_k=0" if case == "bad_top_k" else "/predict"
    status, d, _ = request(live_server, "POST", path, body, headers)
    expected = {"empty": (400, "EmptyUpload", "empty"),
                "truncated": (400, "ImageDecodeError", "truncated"),
                "text": (400, "ImageDecodeError", "'notes.txt' could not be decoded"),
                "too_big": (413, "PayloadTooLarge", "above the limit of 1048576 bytes"),
                "too_many_pixels": (413, "ImageTooLarge", "1500x1500 = 2250000 pixels"),
                "no_file_field": (422, "MissingFile", "no file field"),
                "bad_top_k": (422, "ValidationError", "top_k")}[case]
    assert (status, d["error"]["type"]) == expected[:2], d
    assert d["error"]["status"] == status and expected[2] in d["error"]["message"]


def test_unknown_route_is_a_json_404(live_server):
    status, d, _ = request(live_server, "GET", "/nothing-here")
    assert status == 404 and d["error"]["type"] == "NotFound"


def test_100_concurrent_requests_all_answered(predictor, photos):
    app = create_app(predictor, ServeConfig(concurrency=2, queue=128))
    refs = {p: predictor(str(p)).category for p in photos}
    jobs = [photos[i % len(photos)] for i in range(100)]
    with running_server(app) as host:
        def call(p):
            return p, request(host, "POST", "/predict", p.read_bytes(), timeout=120)

        with ThreadPoolExecutor(100) as pool:
            answers = list(pool.map(call, jobs))
        _, health, _ = request(host, "GET", "/health")
    assert [s for _, (s, _, _) in answers] == [200] * 100
    for p, (_, d, _) in answers:  # every answer is the one for its own image
        assert d["category"]["label"] == refs[p].label
        assert d["category"]["score"] == pytest.approx(refs[p].score, abs=1e-5)
    assert health["answered"] == 100 and health["in_progress"] == 0


def test_over_the_concurrency_bound_is_503(serve_onnx, photos):
    slow = SlowPredictor(serve_onnx, 0.5, threads=1)
    app = create_app(slow, ServeConfig(concurrency=1, queue=1))
    data = photos[2].read_bytes()
    with running_server(app) as host, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: request(host, "POST", "/predict", data), range(6)))
    codes = sorted(s for s, _, _ in answers)
    assert codes.count(200) >= 2 and codes.count(503) >= 1 and set(codes) <= {200, 503}, codes
    busy = next((d, h) for s, d, h in answers if s == 503)
    assert busy[0]["error"]["type"] == "Busy" and busy[1].get("retry-after") == "1"


def test_live_json_and_mjpeg_stream(live_server):
    deadline = time.monotonic() + 30
    while True:
        status, d, _ = request(live_server, "GET", "/live.json")
        if d.get("prediction") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200 and d["prediction"]["category"]["label"] and d["running"]
    import http.client

    conn = http.client.HTTPConnection(live_server, timeout=30)
    conn.request("GET", "/stream.mjpg")
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("Content-Type").startswith("multipart/x-mixed-replace")
    buf = b""
    while buf.count(b"--frame") < 3:
        buf += r.read1(65536)
    conn.close()
    part = buf.split(b"--frame")[1]
    jpg = part.split(b"\r\n\r\n", 1)[1]
    frame = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None and frame.shape == (120, 160, 3)


def test_no_live_source_is_a_json_404(predictor):
    app = create_app(predictor)
    with running_server(app) as host:
        for path in ("/live.json", "/stream.mjpg"):
            status, d, _ = request(host, "GET", path)
            assert status == 404 and d["error"]["type"] == "NoLiveSource"


def test_a_backend_fault_is_a_5xx_not_the_requests_fault(serve_onnx, photos, tmp_path):
    """A model that runs out of memory on every valid image: 500 BackendError, never 400."""
    import onnx

    from edgefashion.runtime.predictor import Predictor
    from tests.runtime.runtime_helpers import huge_branch

    model = onnx.load(str(serve_onnx))
    huge_branch(model.graph, model.graph.input[0].name)
    path = tmp_path / "oom.onnx"
    onnx.save(model, str(path))
    app = create_app(Predictor(path, threads=1), ServeConfig())
    with running_server(app) as host:
        status, body, _ = request(host, "POST", "/predict", photos[0].read_bytes())
    assert status == 500 and body["error"]["type"] == "BackendError", (status, body)
