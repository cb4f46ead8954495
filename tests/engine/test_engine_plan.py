"""Which build path each TensorRT version takes (8.5 / 8.6 / 10.x / 11.x), without TensorRT."""
from __future__ import annotations

import pytest

from edgefashion.engine.plan import detect_onnx_precision, select_build_path
from edgefashion.runtime.tensorrt.compat import (features_for_version, parse_version, same_engine_version)
from edgefashion.errors import BadInput

V85, V86, V10, V11 = (features_for_version(v) for v in ("8.5.2.2", "8.6.1", "10.3.0", "11.4.0.106"))


def test_version_parsing_and_engine_compatibility():
    assert parse_version("10.16.1.11") == (10, 16, 1) and str(parse_version("8.6")) == "8.6.0"
    assert same_engine_version("8.6.1.6", "8.6.1") and not same_engine_version("8.6.1", "8.6.2")
    with pytest.raises(BadInput, match="MAJOR.MINOR"):
        parse_version("ten")


def test_feature_table():
    assert V85.named_tensors and not V85.registry_load_library and V85.explicit_batch_flag
    assert V86.registry_load_library and not V86.strongly_typed and V86.calibrators
    assert V10.strongly_typed and V10.weak_typing and V10.calibrators and V10.progress_monitor
    assert not V10.explicit_batch_flag and not V10.always_strongly_typed
    assert V11.always_strongly_typed and not V11.weak_typing and not V11.calibrators
    assert not features_for_version("8.4.1").named_tensors  # the bindings API only
    assert V11.to_dict()["version"] == "11.4.0"


@pytest.mark.parametrize("features", [V85, V86])
def test_tensorrt_8_uses_builder_flags(features):
    p = select_build_path(features, "auto", "fp32")
    assert (p.name, p.precision, p.network_flags, p.builder_flags) == ("default", "fp32", ("EXPLICIT_BATCH",), ())
    p = select_build_path(features, "fp16", "fp32")
    assert (p.name, p.builder_flags, p.quantize_to) == ("builder_flags", ("FP16",), None)
    p = select_build_path(features, "auto", "fp16")  # an fp16 ONNX also sets the flag on 8.x
    assert p.builder_flags == ("FP16",)
    p = select_build_path(features, "auto", "int8")  # Q/DQ ONNX: explicit quantization + INT8 flag
    assert (p.precision, p.builder_flags, p.calibrator) == ("int8", ("INT8",), False)
    p = select_build_path(features, "int8", "fp32", has_calib=True)  # fp32 ONNX: the entropy calibrator
    assert (p.name, p.builder_flags, p.calibrator) == ("calibrator", ("INT8",), True)
    p = select_build_path(features, "int8", "fp32", calibrator="qdq", has_calib=True)
    assert (p.quantize_to, p.builder_flags, p.calibrator) == ("int8", ("INT8",), False)


def test_tensorrt_10_builds_strongly_typed():
    for onnx in ("fp32", "fp16", "int8"):
        p = select_build_path(V10, "auto", onnx)
        assert (p.name, p.precision, p.network_flags, p.builder_flags) == (
            "strongly_typed", onnx, ("STRONGLY_TYPED",), ())
    p = select_build_path(V10, "fp16", "fp32")  # precision lives in the ONNX: convert first
    assert (p.name, p.quantize_to) == ("strongly_typed", "fp16")
    p = select_build_path(V10, "int8", "fp32", has_calib=True)
    assert (p.name, p.quantize_to) == ("strongly_typed", "int8")
    p = select_build_path(V10, "int8", "fp32", calibrator="entropy", has_calib=True)  # legacy, still there
    assert (p.name, p.network_flags, p.builder_flags, p.calibrator) == ("calibrator", (), ("INT8",), True)


def test_tensorrt_11_has_no_weak_typing():
    for onnx in ("fp32", "fp16", "int8"):
        p = select_build_path(V11, "auto", onnx)
        assert (p.name, p.network_flags, p.builder_flags) == ("strongly_typed", (), ())
    assert select_build_path(V11, "fp16", "fp32").quantize_to == "fp16"
    assert select_build_path(V11, "int8", "fp32", has_calib=True).quantize_to == "int8"
    with pytest.raises(BadInput, match="TensorRT 11.4.0 has no INT8 calibrators.*edgefashion quantize"):
        select_build_path(V11, "int8", "fp32", calibrator="entropy", has_calib=True)


@pytest.mark.parametrize("features", [V85, V10, V11])
def test_impossible_requests_say_what_to_do(features):
    with pytest.raises(BadInput, match="needs calibration images.*--calib DIR"):
        select_build_path(features, "int8", "fp32")
    with pytest.raises(BadInput, match="already holds int8 precision.*--precision int8"):
        select_build_path(features, "fp16", "int8")
    with pytest.raises(BadInput, match="already holds fp16.*fp32 ONNX"):
        select_build_path(features, "int8", "fp16", has_calib=True)
    with pytest.raises(BadInput, match="DLA cores run fp16 or int8 only"):
        select_build_path(features, "auto", "fp32", dla=True)
    assert select_build_path(features, "auto", "fp16", dla=True).precision == "fp16"


def test_detects_the_precision_of_real_onnx_files(tiny_onnx, tmp_path):
    onnx = pytest.importorskip("onnx")
    from edgefashion.precision.fp16 import convert_fp16

    assert detect_onnx_precision(tiny_onnx) == "fp32"
    fp16 = tmp_path / "m.fp16.onnx"
    onnx.save(convert_fp16(onnx.load(str(tiny_onnx))), str(fp16))
    assert detect_onnx_precision(fp16) == "fp16"


@pytest.mark.needs_data
def test_detects_a_qdq_onnx(tiny_onnx, real_photos, prep_cfg, tmp_path):
    from edgefashion.precision import int8
    from edgefashion.precision.calibration import CalibrationImages

    prepared = int8.prepare(tiny_onnx, tmp_path / "prepared.onnx")
    ranges = int8.calibrate(prepared, CalibrationImages(real_photos[:8], prep_cfg, 4), progress=False)
    dst = int8.quantize(prepared, tmp_path / "m.int8.onnx", ranges, int8.DEFAULT_METHOD)
    assert detect_onnx_precision(dst) == "int8"


def test_cli_explain_without_tensorrt(tiny_onnx, capsys):
    from edgefashion.cli.main import main

    assert main(["build", str(tiny_onnx), "--precision", "fp16", "--batch", "1:4:16", "--explain", "8.5"]) == 0
    out = capsys.readouterr().out
    assert "TensorRT 8.5.0" in out and "path: builder_flags" in out and "builder flags: FP16" in out
    assert "EXPLICIT_BATCH" in out and "max (16, 3, 64, 64)" in out and "edgefashion build" in out
    assert main(["build", str(tiny_onnx), "--precision", "fp16", "--explain", "11.0"]) == 0
    out = capsys.readouterr().out
    assert "path: strongly_typed" in out and "quantize to fp16" in out and "max (32, 3, 64, 64)" in out
