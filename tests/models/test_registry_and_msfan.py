from __future__ import annotations

import pytest
import torch

from edgefashion import ops
from edgefashion.errors import BadInput, ModelFileError, UnknownName
from edgefashion.models import create_model, get_model_class, list_models
from edgefashion.models.vgg import vgg16_features


def tiny(name: str, nc: int = 5, na: int = 7, **kw):
    cfg = {**get_model_class(name).tiny_config, **kw}
    return create_model(name, nc, na, **cfg)


def test_registry_lists_and_rejects():
    assert "msfan" in list_models()
    with pytest.raises(UnknownName, match="unknown model 'nope'; valid models: .*msfan"):
        create_model("nope", 2, 2)


@pytest.mark.parametrize("name", list_models())
def test_forward_named_outputs(name):
    torch.manual_seed(0)
    model = tiny(name).eval()
    size = model.cfg.input_size
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert list(out) == model.output_names
    assert out["category_logits"].shape == (2, 5)
    assert out["attribute_logits"].shape == (2, 7)
    for k in model.output_names[2:]:
        v = out[k]
        if k == "landmarks":  # (N, K, 3): x, y normalised to the input, confidence
            assert v.shape[0] == 2 and v.shape[2] == 3 and 0 <= v.min() and v.max() <= 1
        elif k == "embedding":  # (N, D), L2-normalised
            assert v.shape[0] == 2
            torch.testing.assert_close(v.norm(dim=1), torch.ones(2), atol=1e-4, rtol=0)
        else:  # gate / attention maps (N, 1, h, w) in [0, 1]
            assert v.shape[:2] == (2, 1) and 0 <= v.min() and v.max() <= 1


def test_msfan_stage_resolutions_match_design():
    """At 224 the gated levels are conv1 112, conv2 56, conv3 28 and conv4_3 28 pixels."""
    model = create_model("msfan", 3, 2, width=0.125).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert [out[f"gate{i}"].shape[-1] for i in (1, 2, 3, 4)] == [112, 56, 28, 28]


@pytest.mark.parametrize("cfg, gates", [
    (dict(single_stage=True), ["gate4"]),
    (dict(stages=(2, 4)), ["gate2", "gate4"]),
    (dict(pooling=("gap",)), ["gate1", "gate2", "gate3", "gate4"]),
])
def test_msfan_ablations(cfg, gates):
    model = tiny("msfan", **cfg).eval()
    assert model.output_names[2:] == gates
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out["category_logits"].shape == (1, 5)
    assert all(not m.use_max for m in model.channel_att.values()) == ("gmp" not in model.cfg.pooling)


def test_gmp_changes_the_answer():
    torch.manual_seed(0)
    a = tiny("msfan").eval()
    b = tiny("msfan", pooling=("gap",)).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        levels, _ = a._levels(x)
        ra, _ = a._attend(levels)
        rb, _ = b._attend(levels)
    # the multi-staged map (what GMP changes) differs by far more than float noise
    assert (ra - rb).abs().max() > 1e-3 * ra.abs().max()


@pytest.mark.parametrize("cfg, message", [
    (dict(stages=(1, 2)), "must be a subset of"),
    (dict(input_size=100), "multiple of 32"),
    (dict(pooling=("gmp",)), "pooling"),
    (dict(width=0), "width"),
])
def test_bad_config(cfg, message):
    with pytest.raises(BadInput, match=message):
        create_model("msfan", 2, 2, **cfg)


def test_wrong_input_shape_is_a_typed_error():
    model = tiny("msfan").eval()
    with pytest.raises(BadInput, match=r"expects \(N, 3, 64, 64\); got \(1, 3, 32, 32\)"):
        model(torch.randn(1, 3, 32, 32))


def test_impl_switch_reference_equals_auto():
    torch.manual_seed(0)
    model = tiny("msfan").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        with ops.set_impl("reference"):
            ref = model(x)
        auto = model(x)
    for k in ref:
        torch.testing.assert_close(auto[k], ref[k], atol=1e-4, rtol=1e-4)
    assert ops.get_impl() == "auto"


def test_backbone_weights_load_from_local_file(tmp_path):
    torch.manual_seed(0)
    src = vgg16_features(1.0)
    path = tmp_path / "vgg16.pth"
    torch.save({f"features.{k}": v for k, v in src.state_dict().items()}, path)
    model = create_model("msfan", 2, 2, width=1.0, input_size=32, backbone_weights=str(path), head_dim=8)
    torch.testing.assert_close(model.features[0].weight, src[0].weight)
    assert model.config["backbone_weights"] is None  # the path is not baked into checkpoints
    with pytest.raises(ModelFileError, match="does not match"):
        create_model("msfan", 2, 2, width=0.5, input_size=32, backbone_weights=str(path))
    with pytest.raises(ModelFileError, match="never downloads"):
        create_model("msfan", 2, 2, backbone_weights=str(tmp_path / "missing.pth"))
