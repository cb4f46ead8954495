"""``import edgefashion`` and the ONNX Runtime Predictor work on a machine without torch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter in which importing torch (or torchvision) fails as if not installed.
SCRIPT = r"""
import importlib.abc, json, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, NoTorch())
import edgefashion
from edgefashion.errors import BackendUnavailable
from edgefashion.runtime.backends import available_backends

onnx_path, photo, ckpt = sys.argv[1:4]
p = edgefashion.Predictor(onnx_path, threads=1)
r = p(photo)
try:
    edgefashion.Predictor(ckpt)
    pt_error = None
except BackendUnavailable as e:
    pt_error = str(e)
try:
    import torch  # noqa: F401
    blocked = False
except ImportError:
    blocked = True
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")
               or m.startswith(("edgefashion.data", "edgefashion.training", "edgefashion.models",
                                "edgefashion.export")))
print(json.dumps({"probs": r.category.probs.tolist(), "attributes": r.attributes, "heavy": heavy,
                  "pt_error": pt_error, "available": available_backends(),
                  "blocked": blocked}))
"""


@pytest.mark.needs_data
def test_onnx_predictor_without_torch(onnx_path, ckpt_path, real_photos, onnx_predictor):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(onnx_path), str(real_photos[0]), str(ckpt_path)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["blocked"]  # the finder really hides torch
    assert out["heavy"] == []  # torch, training, data loaders, models, export: none imported
    assert out["available"]["pytorch"] is False and out["available"]["onnxruntime"] is True
    assert out["pt_error"] and "pip install torch" in out["pt_error"]
    expected = onnx_predictor(real_photos[0])
    np.testing.assert_allclose(out["probs"], expected.category.probs, atol=1e-6)
    assert out["attributes"] == expected.attributes
