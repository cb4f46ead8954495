"""``edgefashion predict ENGINE --rebuild``: a mismatched engine is refused without the flag and
rebuilt (then used) with it. Needs TensorRT and a GPU; the CPU half of the flag (refused on a non-engine
file) is tests/runtime/test_promises_selftest_cli.py::test_cli_predict_rebuild_on_an_onnx_file_says_engines_only.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from engine_helpers import smooth_noise

from edgefashion.cli.main import main

pytestmark = [pytest.mark.needs_trt, pytest.mark.needs_cuda]


def test_predict_rebuild_flag_rebuilds_a_mismatched_engine(tiny_onnx, tmp_path, capsys):
    import cv2

    from edgefashion.engine import build_engine
    from edgefashion.runtime.metadata import sidecar_path
    from edgefashion.runtime.tensorrt.sidecar import read_engine_sidecar

    res = build_engine(tiny_onnx, tmp_path / "m.engine", batch="1:2:4", progress=False)
    side = sidecar_path(res.engine)
    data = json.loads(side.read_text())
    real_gpu = data["engine"]["gpu_name"]
    data["engine"]["gpu_name"] = "Some Other GPU"
    side.write_text(json.dumps(data))
    img = tmp_path / "x.png"
    frame = (np.clip(smooth_noise(1, 64)[0].transpose(1, 2, 0), -2, 2) * 60 + 128).astype(np.uint8)
    cv2.imwrite(str(img), frame)

    assert main(["predict", str(res.engine), str(img)]) == 2
    assert "Some Other GPU" in capsys.readouterr().err
    assert read_engine_sidecar(res.engine).engine.gpu_name == "Some Other GPU"  # nothing rebuilt

    assert main(["predict", str(res.engine), str(img), "--rebuild", "--format", "jsonl"]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert len(out) == 1 and out[0]["category"]["label"]
    assert read_engine_sidecar(res.engine).engine.gpu_name == real_gpu
