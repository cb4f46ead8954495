"""edgefashion build: argument errors first, then a typed error where TensorRT is missing."""
from __future__ import annotations

import importlib.util

import pytest

from edgefashion.cli.main import main

HAS_TRT = importlib.util.find_spec("tensorrt") is not None


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed")
def test_build_without_tensorrt_explains_desktop_and_jetson_installs(tiny_onnx, tmp_path, capsys):
    rc = main(["build", str(tiny_onnx), "-o", str(tmp_path / "m.engine"), "--precision", "fp16"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: TensorRT is not installed, so edgefashion cannot build")
    assert "pip install tensorrt" in err and "JetPack" in err and "python3-libnvinfer" in err
    assert not (tmp_path / "m.engine").exists()


@pytest.mark.parametrize("argv, match", [
    (["--batch", "8:1"], "min <= opt <= max"),
    (["--dla", "0", "--precision", "fp32"], "DLA cores run fp16 or int8"),
    (["--calibrator", "entropy"], "needs calibration images"),
    (["--workspace", "0"], "workspace_mb=0"),
])
def test_bad_arguments_fail_before_tensorrt_is_needed(tiny_onnx, argv, match, capsys):
    assert main(["build", str(tiny_onnx), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and __import__("re").search(match, err)


def test_missing_onnx(tmp_path, capsys):
    assert main(["build", str(tmp_path / "nope.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_explain_refuses_impossible_requests(tiny_onnx, capsys):
    assert main(["build", str(tiny_onnx), "--precision", "int8", "--calibrator", "entropy",
                 "--calib", "photos", "--explain", "11.0"]) == 2
    assert "has no INT8 calibrators" in capsys.readouterr().err
