"""msfan_student: ResNet-18 (torchvision pieces) + spatial gate + GAP-only channel attention after conv3."""
from __future__ import annotations

import pytest
import torch
import torchvision

from edgefashion import ops
from edgefashion.errors import BadInput, ModelFileError
from edgefashion.models import create_model


def test_full_size_matches_resnet18_and_the_paper():
    model = create_model("msfan_student", 50, 1000).eval()
    tv = torchvision.models.resnet18(weights=None)
    backbone = {k: v.shape for k, v in model.state_dict().items()
                if k.split(".")[0] in ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")}
    assert backbone == {k: v.shape for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    assert not model.channel_att.use_max                        # GAP only (the teacher adds GMP)
    assert model.category_head[0].out_features == model.attribute_head[0].out_features == 1024
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out["gate3"].shape == (1, 1, 28, 28)                 # conv3_x: stride 8
    assert out["category_logits"].shape == (1, 50) and out["attribute_logits"].shape == (1, 1000)


def test_attention_goes_through_edgefashion_ops():
    torch.manual_seed(0)
    model = create_model("msfan_student", 4, 3, width=0.125, input_size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(), ops.set_impl("reference"):
        ref = model(x)
        feats = model.layer2(model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(x))))))
        g = torch.sigmoid(torch.einsum("nchw,c->nhw", feats, model.gate.weight) + model.gate.bias)
    torch.testing.assert_close(ref["gate3"][:, 0], g, atol=1e-5, rtol=1e-5)
    with torch.no_grad(), ops.set_impl("auto"):
        auto = model(x)
    torch.testing.assert_close(auto["category_logits"], ref["category_logits"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("stage, side", [(2, 16), (4, 4), (5, 2)])
def test_attention_stage_option(stage, side):
    model = create_model("msfan_student", 3, 2, width=0.125, input_size=64, attention_stage=stage).eval()
    assert model.output_names[-1] == f"gate{stage}"
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64))[f"gate{stage}"].shape[-1] == side


def test_local_backbone_weights_load_and_bad_ones_are_refused(tmp_path):
    tv = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(tv.state_dict(), path)
    model = create_model("msfan_student", 3, 2, backbone_weights=str(path))
    torch.testing.assert_close(model.layer4[1].conv2.weight, tv.layer4[1].conv2.weight)
    assert model.config["backbone_weights"] is None             # checkpoints carry the weights
    with pytest.raises(ModelFileError, match="width=1.0"):
        create_model("msfan_student", 3, 2, width=0.5, backbone_weights=str(path))
    with pytest.raises(ModelFileError, match="does not exist"):
        create_model("msfan_student", 3, 2, backbone_weights=str(tmp_path / "nope.pth"))


@pytest.mark.parametrize("cfg, message", [
    (dict(input_size=100), "multiple of 32"),
    (dict(width=0), "width"),
    (dict(attention_stage=1), "attention_stage"),
    (dict(batch_norm=True), "batch_norm"),
])
def test_bad_config(cfg, message):
    with pytest.raises((BadInput, TypeError), match=message):
        create_model("msfan_student", 3, 2, **cfg)


def test_wrong_input_size_is_a_clear_error():
    model = create_model("msfan_student", 3, 2, width=0.125, input_size=64)
    with pytest.raises(BadInput, match=r"expects \(N, 3, 64, 64\)"):
        model(torch.randn(1, 3, 96, 96))
