"""Every registered model goes through the precision path: fp16 and int8 ONNX agree with fp32.

Parametrized over ``list_models()``, so a model added later is covered without new test code.
Tiny random-weight models on real photos: fp16 must match closely; int8 (calibrated on real
photos) must run and keep the logits' direction (a looser bound: tiny random nets quantize worse
than trained ones, see the clothing MSFAN numbers in benchmarks/results/precision_*.json).
"""
from __future__ import annotations

import pytest
from utils import export_tiny_zoo_model

from edgefashion.models import list_models
from edgefashion.precision import quantize_onnx


@pytest.fixture(scope="module")
def exported(real_photos, tmp_path_factory):
    """name -> an exported tiny fp32 ONNX of that model (built on first use)."""
    made = {}

    def get(name):
        if name not in made:
            made[name] = export_tiny_zoo_model(name, real_photos,
                                               tmp_path_factory.mktemp(name) / f"{name}.onnx")
        return made[name]

    return get


@pytest.mark.parametrize("name", list_models())
def test_fp16_and_int8_agree_with_fp32(name, exported, real_photos, tmp_path):
    src = exported(name)
    fp16 = quantize_onnx(src, tmp_path / "m.fp16.onnx", "fp16", eval_images=real_photos[:12],
                         max_drop=None, progress=False)
    cos16 = fp16["accuracy"]["outputs"]["category_logits"]["cosine_min"]
    assert cos16 > 0.999, f"{name} fp16 category logits cosine {cos16}"

    int8 = quantize_onnx(src, tmp_path / "m.int8.onnx", "int8", calib=real_photos[12:28],
                         eval_images=real_photos[:12], max_drop=None, progress=False,
                         calib_cache=None)
    out = int8["accuracy"]["outputs"]["category_logits"]
    assert out["cosine_mean"] > 0.5, f"{name} int8 category logits cosine {out['cosine_mean']}"
    assert (tmp_path / "m.int8.onnx").is_file()
