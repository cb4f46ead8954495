"""msfan_lite's "cam": the category head's class activation map, exact, exported, served and drawn."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from edgefashion.errors import BadInput
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class
from edgefashion.models.layers import fc_head, head_with_cam, normalise_cam
from edgefashion.runtime.preprocess import PreprocessConfig
from tests.utils import TOLERANCES, tol

pytest.importorskip("timm")


def tiny(**kw):
    return create_model("msfan_lite", 5, 7, **{**get_model_class("msfan_lite").tiny_config, **kw})


def _head_features(model, x):
    """Run the model; -> (outputs, head features (N, 1280 * width, S/32, S/32))."""
    seen = {}
    hook = model.backbone.bn2.register_forward_hook(lambda m, i, o: seen.setdefault("f", o))
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        hook.remove()
    return out, seen["f"]


def _reference_top_logit(head, cam, features):
    """mean_xy cam + W2[c] . (m * b1) + b2[c] with m the ReLU pattern of the pooled hidden."""
    linears = [m for m in head if isinstance(m, torch.nn.Linear)]
    pooled = features.mean((2, 3))
    c = head(pooled).argmax(1)
    if len(linears) == 1:
        return cam.mean((1, 2, 3)) + linears[0].bias[c]
    first, last = linears
    mask = (first(pooled) > 0).to(pooled.dtype)
    return cam.mean((1, 2, 3)) + (last.weight[c] * mask * first.bias).sum(1) + last.bias[c]


@pytest.mark.parametrize("hidden", [16, 0])
def test_cam_sums_to_the_top_logit(hidden):
    """A position's cam is its exact share: the mean over positions plus the bias terms is the logit."""
    torch.manual_seed(0)
    head = fc_head(12, hidden, 4, 0.5) if hidden else torch.nn.Sequential(
        torch.nn.Dropout(0.5), torch.nn.Linear(12, 4))
    head = head.double().eval()
    feats = torch.randn(3, 12, 3, 5, dtype=torch.float64).relu()
    with torch.no_grad():
        logits, cam = head_with_cam(head, feats)
        torch.testing.assert_close(logits, head(feats.mean((2, 3))), **tol("fp64"))
        top = logits.gather(1, logits.argmax(1, keepdim=True))[:, 0]
        torch.testing.assert_close(_reference_top_logit(head, cam, feats), top, **tol("fp64"))
        if hidden:  # the ReLU pattern matters: some hidden units are off
            assert (head[0](feats.mean((2, 3))) <= 0).any()


def test_the_model_cam_is_the_normalised_share_of_its_top_logit():
    torch.manual_seed(0)
    model = tiny(input_size=96).double().eval()
    out, feats = _head_features(model, torch.randn(2, 3, 96, 96, dtype=torch.float64))
    logits, raw = head_with_cam(model.category_head, feats)
    torch.testing.assert_close(out["category_logits"], logits, **tol("fp64"))
    top = logits.gather(1, logits.argmax(1, keepdim=True))[:, 0]
    torch.testing.assert_close(_reference_top_logit(model.category_head, raw, feats), top, **tol("fp64"))
    cam = out["cam"]
    assert cam.shape == (2, 1, 3, 3) and cam.min() >= 0 and cam.amax((1, 2, 3)).min() > 0.99
    torch.testing.assert_close(cam, normalise_cam(raw), **tol("fp64"))
    assert model.output_names[-1] == "cam" and list(out) == model.output_names


def test_normalise_cam_floor():
    raw = torch.tensor([[[[-10.0, 1e-6], [-5.0, 2.0]]]])
    torch.testing.assert_close(normalise_cam(raw), torch.tensor([[[[0.0, 5e-7], [0.0, 1.0]]]]),
                               atol=1e-6, rtol=0)
    noise = normalise_cam(torch.tensor([[[[-10.0, 1e-6]]]]))    # positive part is only noise
    assert noise.max() < 1e-3


def test_normalise_cam_is_stable_under_int8_sized_errors():
    """An error of 1 % of a 2 x 2 map's magnitude (int8 rounding) moves the output by at most about
    2 x 0.01 / floor = 0.2 (the peak and the divisor both move). With a 1e-3 floor, one that flips
    a small peak's sign took the map from 1 to 0: what a one-off QAT export check failure (max abs
    0.999) looked like."""
    small_peak = torch.tensor([[[[-10.0, -4.0], [0.05, -7.0]]]])
    assert (normalise_cam(small_peak) - normalise_cam(small_peak + torch.tensor(
        [[[[0.1, -0.1], [-0.1, 0.1]]]]))).abs().max() <= 0.05 + 1e-6
    assert (normalise_cam(small_peak, 1e-3) - normalise_cam(small_peak + torch.tensor(
        [[[[0.1, -0.1], [-0.1, 0.1]]]]), 1e-3)).abs().max() > 0.99
    two_peaks = torch.tensor([[[[-10.0, 1.0], [1.0, -5.0]]]])   # the peak moves too
    moved = (normalise_cam(two_peaks) - normalise_cam(two_peaks + torch.tensor(
        [[[[0.0, 0.1], [-0.1, 0.0]]]]))).abs().max()
    assert 0.1 < moved <= 2 * 0.01 / 0.1 + 1e-6


def test_cam_source_follows_the_heads():
    assert tiny().cam_source == "category" and "cam" not in tiny(cam="none").output_names
    assert tiny(cam=False).cfg.cam == "none" and tiny(cam=True).cfg.cam == "auto"   # --model-opt
    torch.manual_seed(0)
    one = create_model("msfan_lite", 1, 7, **get_model_class("msfan_lite").tiny_config).eval()
    assert one.cam_source == "attributes"      # a single category's logit is never trained
    out, feats = _head_features(one, torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(out["cam"], normalise_cam(head_with_cam(one.attribute_head, feats)[1]))
    with pytest.raises(BadInput, match="0 attributes"):
        create_model("msfan_lite", 3, 0, cam="attributes", **get_model_class("msfan_lite").tiny_config)
    with pytest.raises(BadInput, match="auto, category, attributes, none"):
        tiny(cam="grad")


@pytest.mark.parametrize("categories", [5, 1])
def test_each_head_runs_once_as_a_module(categories):
    """training/head_warmup.py captures the pooled features with a pre-hook on the heads."""
    model = create_model("msfan_lite", categories, 7, **get_model_class("msfan_lite").tiny_config).eval()
    calls = []
    for head in (model.category_head, model.attribute_head, model.category_head[0]):
        head.register_forward_pre_hook(lambda m, args: calls.append(tuple(args[0].shape)))
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    assert calls == [(2, model.backbone.out_channels)] * 3


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from edgefashion.export.onnx import export_onnx

    torch.manual_seed(0)
    model = tiny().eval()
    schema = LabelSchema.simple([f"c{i}" for i in range(5)], {"texture": [f"a{i}" for i in range(7)]})
    prep = PreprocessConfig(input_size=64)
    path = tmp_path_factory.mktemp("cam") / "m.onnx"
    report = export_onnx(model, schema, prep, path, self_test=False)
    return model, path, report


def test_onnx_cam_matches_pytorch(exported):
    model, path, report = exported
    assert report.passed and "cam" in report.max_abs
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == model.output_names
    x = np.random.default_rng(3).standard_normal((4, 3, 64, 64)).astype(np.float32)
    got = dict(zip(model.output_names, sess.run(None, {"image": x})))
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    atol, rtol = TOLERANCES["onnx_vs_torch"]
    np.testing.assert_allclose(got["cam"], ref["cam"].numpy(), atol=atol, rtol=rtol)
    np.testing.assert_array_equal(got["category_logits"].argmax(1), ref["category_logits"].argmax(1).numpy())


def test_int8_leaves_the_cam_nodes_alone(exported):
    """Only the cam's own nodes: its MatMul / Gather read the head's weights, the head stays out."""
    import onnx

    from edgefashion.precision.graph import head_nodes, output_only_nodes

    graph = onnx.load(str(exported[1])).graph
    ops = {n.name: n.op_type for n in graph.node}
    cam = output_only_nodes(graph)
    assert {"ArgMax", "Gather", "MatMul", "ReduceSum"} <= {ops[n] for n in cam}
    assert not set(cam) & set(head_nodes(graph)) and output_only_nodes(graph, ("nothing",)) == []


def test_predictor_serves_cam_and_the_overlay_uses_it(exported):
    from edgefashion.runtime.predictor import Predictor
    from edgefashion.runtime.visualize import draw_prediction

    _, path, _ = exported
    img = np.random.default_rng(0).integers(0, 255, (80, 120, 3), dtype=np.uint8)
    r = Predictor(str(path), threads=1)(img)
    assert sorted(r.gates) == ["cam", "gate1", "gate2", "gate3"]
    assert r.gates["cam"].shape == (2, 2) and 0 <= r.gates["cam"].min() and r.gates["cam"].max() <= 1
    np.testing.assert_array_equal(draw_prediction(img, r), draw_prediction(img, r, gate="cam"))
