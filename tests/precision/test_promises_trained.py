"""fp16 / int8 bounds that mean what they say, measured on a model trained on real photos.

The other precision tests use random-weight models (near-tied logits), where int8 could only be
held to cosine > 0.5 and agreement >= 0.8. tests/fixtures/msfan_clothing64.pt is a tiny MSFAN
trained on real clothing-small photos (made by tests/fixtures/make_trained_fixture.py, < 1 MB);
on 100 real validation photos int8 must keep 95 % of the top-1 answers (measured: 96-98 % with
40-100 calibration photos; the random-weight models manage 80 %), logits cosine mean > 0.998 and
min > 0.97, every gate map > 0.999 -- the bounds a real model is held to. (This 0.35 M-parameter
model does not reach the default gate's 99 %, which the full-size clothing MSFAN meets: 99.7 %.)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgefashion.precision import quantize_onnx
from edgefashion.runtime.predictor import Predictor
from edgefashion.runtime.selftest import run_self_test

pytestmark = pytest.mark.needs_data
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "msfan_clothing64.pt"


def _photos(root: Path, per_category: int, offset: int = 0) -> list[Path]:
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        out.extend(sorted(d.glob("*.jpg"))[offset:offset + per_category])
    return out


@pytest.fixture(scope="module")
def trained():
    pytest.importorskip("torch")
    from edgefashion.models import load_checkpoint

    if not FIXTURE.is_file():
        pytest.fail(f"{FIXTURE} is missing: run python tests/fixtures/make_trained_fixture.py")
    return load_checkpoint(FIXTURE)


@pytest.fixture(scope="module")
def val_photos(clothing_small) -> list[Path]:
    """100 real validation photos, 10 per category (labels from the folders)."""
    return _photos(clothing_small / "validation", 10)


@pytest.fixture(scope="module")
def trained_onnx(trained, val_photos, tmp_path_factory) -> Path:
    from edgefashion.export.onnx import check_inputs_from_images, export_onnx

    model, info = trained
    path = tmp_path_factory.mktemp("trained") / "msfan.onnx"
    export_onnx(model, info["schema"], info["preprocess"], path, real_images=True,
                check_inputs=check_inputs_from_images(val_photos[::10], info["preprocess"]),
                self_test_images=val_photos[5::25])
    return path


def test_fixture_is_small_and_really_trained(trained, trained_onnx, val_photos):
    assert FIXTURE.stat().st_size < 1_000_000
    model, info = trained
    made = info["raw"]["train_state"]["fixture"]
    assert made["val_images"] == 341 and made["val_category_top1"] >= 0.3  # chance: 0.1
    # measured again here, through the exported model, on 100 validation photos
    preds = Predictor(trained_onnx, threads=1)([str(p) for p in val_photos])
    top1 = np.mean([p.category.label == Path(p.source).parent.name for p in preds])
    assert top1 >= 0.25, top1
    # real margins: the top-1 probability is far from uniform on most photos
    assert np.median([p.category.score for p in preds]) > 0.3


def test_int8_of_a_trained_model_keeps_its_answers(trained_onnx, clothing_small, val_photos,
                                                   tmp_path):
    calib = _photos(clothing_small / "train", 10, offset=100)  # 100 training photos, not the fixture's
    # uint8 activations: ONNX Runtime's own CPU layout, which this test runs on. The TensorRT layout
    # (symmetric int8 activations) depends on the CPU's int8 kernels under ONNX Runtime: 96-98 %
    # agreement on the Intel Xeon (AMX), 87 % on the AMD EPYC (AVX-512 VNNI), where uint8 gives 95 %
    # -- gating on the runtime that runs the file is issue 22's work.
    res = quantize_onnx(trained_onnx, tmp_path / "m.int8.onnx", "int8", calib=calib,
                        eval_images=val_photos, progress=False, calib_cache=None,
                        activations="uint8",
                        min_agreement=0.95, max_drop=3.0, max_top1_drop=3.0)  # the gate enforces these
    acc = res["accuracy"]
    assert acc["num_images"] == 100 and acc["category"]["labels"].startswith("known")
    assert acc["category"]["top1_agreement"] >= 0.95
    assert abs(acc["category"]["delta_points"]["top1"]) <= 3.0 + 1e-9  # 3 photos of 100 is 3.0
    logits = acc["outputs"]["category_logits"]
    assert logits["cosine_mean"] > 0.998 and logits["cosine_min"] > 0.97, logits
    assert all(acc["outputs"][g]["cosine_mean"] > 0.999 for g in ("gate1", "gate2", "gate3", "gate4"))
    assert run_self_test(Predictor(res["output"], threads=1))["passed"]


def test_fp16_is_practically_exact(trained_onnx, val_photos, tmp_path):
    res = quantize_onnx(trained_onnx, tmp_path / "m.fp16.onnx", "fp16", eval_images=val_photos,
                        progress=False)
    acc = res["accuracy"]
    assert acc["category"]["top1_agreement"] == 1.0
    assert acc["outputs"]["category_logits"]["cosine_min"] > 0.99999
