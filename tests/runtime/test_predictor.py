"""Predictor on a real exported model and real photos: inputs, batching, boxes, timings, schema."""
from __future__ import annotations

import numpy as np
import pytest
from utils import tol

import edgefashion
from edgefashion.errors import BadInput, MissingMetadata, SchemaError, ShapeError
from edgefashion.runtime.backends import load_backend
from edgefashion.runtime.images import load_image
from edgefashion.runtime.postprocess import softmax
from edgefashion.runtime.predictor import Predictor
from edgefashion.runtime.prediction import Prediction
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess

pytestmark = pytest.mark.needs_data


def test_lazy_reexport():
    assert edgefashion.Predictor is Predictor and edgefashion.Prediction is Prediction


def test_single_inputs_path_bytes_array(onnx_predictor, real_photos, schema):
    path = real_photos[0]
    r = onnx_predictor(path)
    assert isinstance(r, Prediction) and r.ok and r.source == str(path)
    assert r.category.label in schema.category_names
    assert len(r.category.top(3)) == 3 and r.category.top(1)[0][0] == r.category.label
    assert r.category.probs.shape == (10,) and abs(float(r.category.probs.sum()) - 1) < 1e-5
    assert set(r.attributes) == set(schema.groups)
    assert set(r.scores) == set(schema.attribute_names)
    for group in ("sleeve", "neck"):  # exclusive
        assert len(r.attributes[group]) <= 1
    assert {k: v.shape for k, v in r.gates.items()} == {
        "gate1": (32, 32), "gate2": (16, 16), "gate3": (8, 8), "gate4": (8, 8)}
    assert all(0 <= g.min() and g.max() <= 1 for g in r.gates.values())
    assert set(r.timings) == {"preprocess", "inference", "postprocess"}
    from_bytes = onnx_predictor(path.read_bytes())
    from_array = onnx_predictor(load_image(path))
    assert from_bytes.source.endswith("bytes>") and from_array.source.startswith("<array")
    for other in (from_bytes, from_array):
        np.testing.assert_allclose(other.category.probs, r.category.probs, atol=1e-6)
        assert other.attributes == r.attributes


def test_batch_matches_model_and_is_batch_size_invariant(onnx_path, torch_model, real_photos,
                                                         prep_cfg):
    import torch

    p3 = Predictor(onnx_path, batch_size=3)
    results = p3([str(x) for x in real_photos])
    assert p3.last_timings["images"] == len(real_photos)
    assert p3.last_timings["batches"] == -(-len(real_photos) // 3)
    assert p3.last_timings["total"] == pytest.approx(
        sum(p3.last_timings[k] for k in ("preprocess", "inference", "postprocess")))
    x = np.stack([preprocess(load_image(p), prep_cfg) for p in real_photos])
    with torch.no_grad():
        ref = softmax(torch_model(torch.from_numpy(x))["category_logits"].numpy())
    probs = np.stack([r.category.probs for r in results])
    np.testing.assert_allclose(probs, ref, **tol("onnx_vs_torch"))
    one = Predictor(onnx_path, batch_size=1)(real_photos)
    np.testing.assert_allclose(np.stack([r.category.probs for r in one]), probs, atol=1e-5)
    assert [r.attributes for r in one] == [r.attributes for r in results]


def test_onnx_and_pytorch_predictors_agree(onnx_predictor, ckpt_path, real_photos):
    torch_pred = Predictor(ckpt_path, batch_size=4)
    assert torch_pred.backend.name == "pytorch"
    a, b = onnx_predictor(real_photos), torch_pred(real_photos)
    for ra, rb in zip(a, b):
        assert ra.category.label == rb.category.label
        np.testing.assert_allclose(ra.category.probs, rb.category.probs, **tol("onnx_vs_torch"))
        for name in ra.gates:
            np.testing.assert_allclose(ra.gates[name], rb.gates[name], **tol("onnx_vs_torch"))


def test_bboxes_crop_before_preprocessing(onnx_predictor, real_photos, prep_cfg):
    img = load_image(real_photos[0])
    h, w = img.shape[:2]
    box = (w * 0.25, h * 0.1, w * 0.75, h * 0.9)
    np.testing.assert_array_equal(onnx_predictor.preprocess(img, box),
                                  preprocess(img[int(round(h * 0.1)):int(round(h * 0.9)),
                                                 int(round(w * 0.25)):int(round(w * 0.75))], prep_cfg))
    boxed = onnx_predictor([img, img], bboxes=[None, box])
    assert boxed[1].bbox == tuple(float(v) for v in box) and boxed[0].bbox is None
    single = onnx_predictor(img, bboxes=box)
    np.testing.assert_allclose(single.category.probs, boxed[1].category.probs, atol=1e-6)
    assert not np.allclose(boxed[0].category.probs, boxed[1].category.probs)
    with pytest.raises(BadInput, match="1 bboxes given for 2 images"):
        onnx_predictor([img, img], bboxes=[box])


def test_threshold_argument(onnx_predictor, real_photos, schema):
    group_of = {a.name: a.group for a in schema.attributes}
    for r, t in [(onnx_predictor(p, threshold=t), t) for p in real_photos[:4] for t in (0.2, 0.5, 0.8)]:
        mask = schema.applicability_mask()[r.category.index]
        passing = [a.name for a, m in zip(schema.attributes, mask) if m and r.scores[a.name] >= t]
        for group, names in r.attributes.items():
            cands = [n for n in passing if group_of[n] == group]
            if group in schema.exclusive_groups:
                assert names == ([max(cands, key=r.scores.get)] if cands else [])
            else:
                assert names == sorted(cands, key=lambda n: -r.scores[n])
    assert all(not v for v in onnx_predictor(real_photos[0], threshold=0.9999).attributes.values())


def test_missing_metadata_then_schema_given(onnx_no_meta_path, schema, prep_cfg, real_photos,
                                            onnx_predictor):
    with pytest.raises(MissingMetadata, match="no_meta.onnx.*schema=LabelSchema"):
        Predictor(onnx_no_meta_path)
    p = Predictor(onnx_no_meta_path, schema=schema)
    # no preprocess given: the input size is read from the model's input shape
    assert p.preprocess_config == PreprocessConfig(input_size=64)
    np.testing.assert_allclose(p(real_photos[0]).category.probs,
                               onnx_predictor(real_photos[0]).category.probs, atol=1e-6)
    q = Predictor(onnx_no_meta_path, schema=schema.to_dict(), preprocess=prep_cfg.to_dict())
    assert q.schema == schema and q.preprocess_config == prep_cfg


def test_schema_size_mismatch(onnx_path, schema):
    small = schema.replace(attributes=schema.attributes[:5], exclusive_groups=("sleeve",))
    with pytest.raises(SchemaError, match="7 attribute outputs.*5 attributes"):
        Predictor(onnx_path, schema=small)
    with pytest.raises(ShapeError, match="input_size"):
        Predictor(onnx_path, preprocess=PreprocessConfig(input_size=96))


def test_predictor_from_backend_and_info(onnx_path):
    p = Predictor(load_backend(onnx_path), batch_size=2, warmup=1)
    info = p.info()
    assert info["backend"] == "onnxruntime" and info["model"] == "msfan"
    assert info["num_categories"] == 10 and info["batch_size"] == 2
    assert "msfan.onnx" in repr(p)
    with pytest.raises(BadInput, match="batch_size=0"):
        Predictor(onnx_path, batch_size=0)


def test_static_batch_model_is_padded(onnx_path, onnx_predictor, real_photos, tmp_path):
    onnx = pytest.importorskip("onnx")
    m = onnx.load(str(onnx_path))
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2  # batch fixed at 2
    static = tmp_path / "static.onnx"
    onnx.save(m, str(static))
    p = Predictor(static, batch_size=8)
    assert p.fixed_batch == 2 and p.batch_size == 2
    got, ref = p(real_photos[:5]), onnx_predictor(real_photos[:5])
    np.testing.assert_allclose(np.stack([r.category.probs for r in got]),
                               np.stack([r.category.probs for r in ref]), atol=1e-5)
    x = np.stack([onnx_predictor.preprocess(ph) for ph in real_photos[:3]])
    assert p.infer(x)["category_logits"].shape == (3, 10)
