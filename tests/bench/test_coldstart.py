"""Cold start: a fresh process from its start to the first answer."""
from __future__ import annotations

import pytest

from edgefashion.bench.coldstart import cold_start
from edgefashion.bench.inputs import synthetic_jpeg
from edgefashion.errors import EdgeFashionError


def test_cold_start_subprocess(tiny_onnx, tiny_schema, tmp_path):
    img = tmp_path / "photo.jpg"
    img.write_bytes(synthetic_jpeg())
    res = cold_start(tiny_onnx, img, threads=1, runs=2)
    assert res["backend"] == "onnxruntime" and res["wall_ms"]["n"] == 2
    for run in res["runs"]:
        assert run["wall_ms"] > run["total_ms"] > 0
        assert run["total_ms"] >= run["import_ms"] + run["load_ms"] + run["first_prediction_ms"]
        assert run["interpreter_ms"] > 0
        assert run["top1"] in tiny_schema.category_names
        assert 10 < run["rss_peak_mib"] < 4096  # its own peak, not the parent's


def test_cold_start_failure_says_why(tmp_path):
    bad = tmp_path / "nothing.onnx"
    bad.write_bytes(b"not a model")
    img = tmp_path / "photo.jpg"
    img.write_bytes(synthetic_jpeg())
    with pytest.raises(EdgeFashionError, match="did not answer"):
        cold_start(bad, img, runs=1, timeout=120)
