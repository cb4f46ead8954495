"""Every registered model through OpenVINO: the exported ONNX agrees with ONNX Runtime on real photos
(fp32 max abs <= 1e-4, bf16 hint close), the Predictor serves it (extra inputs such as m2fashion's
"known" included) and its self-test passes in fp32 and with the bf16 hint.

Parametrized over ``list_models()``: a model added to the registry is tested here without new code.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino)")
torch = pytest.importorskip("torch")

from edgefashion.export.onnx import check_inputs_from_images, export_onnx  # noqa: E402
from edgefashion.labels import LabelSchema  # noqa: E402
from edgefashion.models import create_model, get_model_class, list_models  # noqa: E402
from edgefashion.runtime.backends import load_backend  # noqa: E402
from edgefashion.runtime.backends.openvino import HINT_DRIFT  # noqa: E402
from edgefashion.runtime.predictor import Predictor  # noqa: E402
from edgefashion.runtime.preprocess import PreprocessConfig  # noqa: E402

pytestmark = pytest.mark.needs_data
ATTRS = {"texture": ["plain", "striped", "floral"], "shape": ["long", "short"]}


@pytest.fixture(scope="module", params=list_models())
def zoo_onnx(request, real_photos, tmp_path_factory):
    """(exported .onnx, preprocessed real photos) for one registered model at its tiny size."""
    name = request.param
    torch.manual_seed(0)
    cfg = dict(get_model_class(name).tiny_config)
    cfg.pop("pretrained", None)  # never a weights download in tests
    schema = LabelSchema.simple(sorted({p.parent.name for p in real_photos}), ATTRS)
    model = create_model(name, schema.num_categories, schema.num_attributes, **cfg).eval()
    prep = PreprocessConfig(input_size=cfg["input_size"])
    x = check_inputs_from_images(real_photos, prep)
    path = tmp_path_factory.mktemp(f"ov_{name}") / "m.onnx"
    export_onnx(model, schema, prep, path, check_inputs=x[:4], real_images=True,
                self_test_images=real_photos[:4])
    return path, x


def _feeds(backend, x: np.ndarray) -> dict:
    feeds = backend.dummy_inputs(len(x))  # neutral extra inputs (m2fashion "known": 0 = unknown)
    feeds["image"] = x
    if "known" in feeds:  # some states known, so the extra input is really exercised
        feeds["known"] = np.random.default_rng(0).choice([-1.0, 0.0, 1.0], feeds["known"].shape).astype(np.float32)
    return feeds


def test_fp32_and_bf16_agree_with_onnxruntime(zoo_onnx):
    path, x = zoo_onnx
    ort = load_backend(path, "onnxruntime", threads=1)
    ref = ort.infer(_feeds(ort, x))
    ov = load_backend(path, "openvino", threads=1)
    assert ov.input_names == ort.input_names and ov.output_names == ort.output_names
    got = ov.infer(_feeds(ov, x))
    for name, want in ref.items():
        scale = max(1.0, float(np.abs(want).max()))  # 1e-4 relative to the output's magnitude
        assert np.abs(got[name] - want).max() <= 1e-4 * scale, name
    bf16 = load_backend(path, "openvino:bf16", threads=1).infer(_feeds(ov, x))
    a, b = bf16["category_logits"], ref["category_logits"]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() >= 1 - HINT_DRIFT["bf16"]["cosine"]


@pytest.mark.parametrize("spec", ["openvino", "openvino:bf16"])
def test_predictor_serves_and_self_tests(zoo_onnx, real_photos, spec):
    path, _ = zoo_onnx
    p = Predictor(path, backend=spec, threads=1, self_test=True)
    assert p.backend.name == "openvino" and p.self_test_report["passed"], p.self_test_report
    kwargs = {}
    if "known" in p.extra_inputs:
        kwargs["known"] = [{"striped": True}, {"plain": False}]
    preds = p(real_photos[:2], **kwargs)
    ref = Predictor(path, backend="onnxruntime", threads=1)(real_photos[:2], **kwargs)
    for a, b in zip(preds, ref):
        assert a.ok and a.category.label in p.schema.category_names
        if spec == "openvino":
            assert a.category.label == b.category.label
            np.testing.assert_allclose(a.category.probs, b.category.probs, atol=1e-4)
