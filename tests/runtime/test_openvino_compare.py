"""``compare`` and the accuracy gate take runtime precision hints: ``PATH@openvino:bf16``."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino)")

from edgefashion.cli.main import main  # noqa: E402
from edgefashion.precision.compare import compare_models, format_compare, split_model_spec  # noqa: E402

pytestmark = pytest.mark.needs_data


def test_split_model_spec():
    assert split_model_spec("m.onnx@openvino:bf16") == (Path("m.onnx"), "openvino:bf16")
    assert split_model_spec("a@b/m.onnx")[1] == "auto"  # an "@" in a folder name is part of the path
    assert split_model_spec("m.onnx")[1] == "auto"


def test_hints_are_compared_and_gated(onnx_path, real_photos):
    rep = compare_models([onnx_path, f"{onnx_path}@openvino", f"{onnx_path}@openvino:bf16"],
                         real_photos, threads=1, progress=False, max_drop=None)  # record, not enforce
    ref, fp32, bf16 = rep["models"]
    assert (ref["backend"], fp32["backend"], bf16["backend"]) == ("onnxruntime", "openvino", "openvino")
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")
    assert fp32["report"]["category"]["top1_agreement"] == 1.0 and not fp32["report"]["gate"]["failed"]
    assert bf16["report"]["category"]["top1_agreement"] >= 0.9 and "rules" in bf16["report"]["gate"]
    assert "bf16" in format_compare(rep)


def test_cli_compare_gates_the_hint(onnx_path, real_photos, tmp_path):
    out = tmp_path / "cmp.json"
    code = main(["compare", str(onnx_path), f"{onnx_path}@openvino:bf16", "--images",
                 str(real_photos[0].parent.parent), "--limit", "20", "--threads", "1", "--quiet",
                 "--json", str(out)])
    rep = json.loads(out.read_text())
    assert rep["models"][1]["precision"] == "bf16"
    assert code == (0 if rep["passed"] else 1)
