"""``Predictor(..., self_test=True)`` and the ``predict`` flags --self-test, --rebuild, --format table.

A copy of the exported model with its weights changed but its metadata (and the embedded reference
set) kept is what a corrupted copy or a wrong engine looks like: it must load without the self-test
and be refused with SelfTestError (CLI: a one-line error, exit 2) with it.
"""
from __future__ import annotations

import numpy as np
import pytest
from runtime_helpers import encode

from edgefashion.cli.main import main
from edgefashion.errors import SelfTestError
from edgefashion.runtime.predictor import Predictor

onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def tampered(onnx_path, tmp_path_factory):
    """The exported model with its attribute head's weights negated; metadata untouched."""
    from onnx import numpy_helper

    m = onnx.load(str(onnx_path))
    changed = 0
    for init in m.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.ndim == 2 and w.dtype == np.float32:  # the Linear (Gemm) head weights
            init.CopyFrom(numpy_helper.from_array(-w, init.name))
            changed += 1
    assert changed >= 1
    path = tmp_path_factory.mktemp("tampered") / "tampered.onnx"
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(3):
        (d / f"img{i}.png").write_bytes(encode(rng.integers(0, 256, (48 + 8 * i, 40, 3), dtype=np.uint8)))
    return sorted(d.glob("*.png"))


def test_self_test_passes_on_the_exported_file(onnx_path):
    p = Predictor(onnx_path, threads=1, self_test=True)
    rep = p.self_test_report
    assert rep["passed"] and rep["precision"] == "fp32" and rep["images"] >= 1
    assert rep["outputs"]["category_logits"]["cosine_min"] > 0.9999
    assert Predictor(onnx_path, threads=1).self_test_report is None  # off by default


def test_self_test_refuses_a_tampered_file(tampered):
    Predictor(tampered, threads=1)  # loads without the check: the file is a valid model
    with pytest.raises(SelfTestError, match="self-test failed") as e:
        Predictor(tampered, threads=1, self_test=True)
    assert str(tampered) in str(e.value) and "cosine" in str(e.value)


def test_cli_predict_self_test(onnx_path, tampered, images, capsys):
    args = [str(p) for p in images]
    assert main(["predict", str(tampered), *args, "--format", "jsonl"]) == 0
    capsys.readouterr()
    assert main(["predict", str(tampered), *args, "--self-test"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: self-test failed")
    assert main(["predict", str(onnx_path), *args, "--self-test", "--format", "jsonl"]) == 0
    assert capsys.readouterr().out.count('"category"') == 3


def test_cli_predict_format_table(onnx_path, images, capsys):
    args = [str(p) for p in images]
    assert main(["predict", str(onnx_path), *args, "--top-k", "2"]) == 0  # table is the default
    lines = capsys.readouterr().out.splitlines()
    assert main(["predict", str(onnx_path), *args, "--top-k", "2", "--format", "table"]) == 0
    assert capsys.readouterr().out.splitlines() == lines
    assert lines[0].split() == ["image", "category", "score", "top-k", "attributes"]
    assert set(lines[1].replace(" ", "")) == {"-"} and len(lines) == 2 + len(images)
    preds = Predictor(onnx_path, threads=1)([str(p) for p in images], top_k=2)
    for line, pred, path in zip(lines[2:], preds, images):
        # columns are left-aligned at the header's offsets
        cells = {c: line[lines[0].index(c):].split("  ")[0].strip()
                 for c in ("image", "category", "score")}
        assert path.name in cells["image"]
        assert cells["category"] == pred.category.label
        assert cells["score"] == f"{pred.category.score:.3f}"
        top = ", ".join(f"{n} {s:.2f}" for n, s in pred.category.top(2))
        assert top in line


def test_cli_predict_rebuild_on_an_onnx_file_says_engines_only(onnx_path, images, capsys):
    """--rebuild rebuilds a mismatched TensorRT engine; on an ONNX file it says, in one line
    (exit 2), that the flag applies to engines only, instead of silently ignoring it or leaking a
    backend option name. The rebuild itself runs in tests/engine/test_promises_predict_rebuild.py
    where TensorRT is present."""
    assert main(["predict", str(onnx_path), str(images[0]), "--rebuild"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--rebuild applies to TensorRT engines" in err
    assert str(onnx_path) in err and "drop --rebuild" in err
