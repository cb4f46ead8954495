"""edgefashion compare over .pt + .onnx + .fp16.onnx, and the quantize / compare commands end to end."""
from __future__ import annotations

import json

import pytest

from edgefashion.cli.main import main
from edgefashion.errors import BadInput
from edgefashion.precision import compare_models, format_compare

pytestmark = pytest.mark.needs_data


def test_compare_checkpoint_onnx_and_fp16(ckpt_path, onnx_path, fp16_result, eval_photos):
    report = compare_models([ckpt_path, onnx_path, fp16_result["output"]], eval_photos[::2],
                            threads=1, progress=False)
    rows = report["models"]
    assert [r["backend"] for r in rows] == ["pytorch", "onnxruntime", "onnxruntime"]
    assert [r["precision"] for r in rows] == ["fp32", "fp32", "fp16"]
    assert report["images"] == {"source": "listed", "num_images": 15, "labels": "folders"}
    ref, onnx_row, half = (r["report"] for r in rows)
    assert ref["category"]["top1_agreement"] == 1.0 and ref["outputs"]["category_logits"]["max_abs"] == 0
    assert onnx_row["category"]["top1_agreement"] == 1.0
    assert onnx_row["outputs"]["category_logits"]["max_abs"] < 1e-3
    assert half["category"]["top1_agreement"] >= 14 / 15
    assert half["outputs"]["gate2"]["cosine_min"] > 0.999
    assert all(r["ms_per_image"] > 0 for r in rows)
    text = format_compare(report, details=True)
    assert "msfan.fp16.onnx" in text and "pytorch" in text and "top3 accuracy" in text


def test_compare_needs_two_models(onnx_path, eval_photos):
    with pytest.raises(BadInput, match="at least two model files"):
        compare_models([onnx_path], eval_photos)


def test_cli_quantize_and_compare(onnx_path, eval_photos, tmp_path, capsys):
    out = tmp_path / "cli.fp16.onnx"
    code = main(["quantize", str(onnx_path), "--precision", "fp16", "-o", str(out),
                 "--eval", str(eval_photos[0].parents[1]), "--eval-size", "12", "--quiet",
                 "--threads", "1"])
    text = capsys.readouterr().out
    assert code == 0 and out.is_file() and f"wrote {out}" in text
    assert "top3 accuracy" in text and "gate: pass" in text and "gate rule category top-1" in text
    report = json.loads((tmp_path / "cli.fp16.onnx.report.json").read_text())
    assert report["eval"]["num_images"] == 12 and report["eval"]["labels"] == "known (12 images)"

    js = tmp_path / "cmp.json"
    code = main(["compare", str(onnx_path), str(out), "--images", str(eval_photos[0].parent),
                 "--json", str(js), "--quiet", "--threads", "1"])
    assert code == 0 and json.loads(js.read_text())["models"][1]["precision"] == "fp16"
    assert "cli.fp16.onnx" in capsys.readouterr().out


def test_cli_errors_are_one_line(onnx_path, tmp_path, capsys):
    code = main(["quantize", str(onnx_path), "--precision", "int8", "-o", str(tmp_path / "x.onnx")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: int8 quantization needs calibration images")
    missing = tmp_path / "no-such-dir"
    code = main(["quantize", str(onnx_path), "--precision", "int8", "--calib", str(missing)])
    assert code == 2 and str(missing) in capsys.readouterr().err


def test_cli_inspect_self_test(fp16_result, onnx_path, capsys):
    assert main(["inspect", "--self-test", fp16_result["output"]]) == 0
    assert "self-test: passed=True, images=4, precision=fp16" in capsys.readouterr().out
    assert main(["inspect", "--self-test", str(onnx_path)]) == 2  # exported without a reference set
    assert "carries no self-test reference set" in capsys.readouterr().err
