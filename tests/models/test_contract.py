"""The declared model contract: every registered model meets it; a foreign module is refused with
a typed error naming what it lacks; the shared input-size / width checks."""
from __future__ import annotations

import pytest
import torch

from edgefashion.errors import BadInput, ModelFileError
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class, list_models
from edgefashion.models.contract import (GarmentModel, GarmentModule, check_input_size, check_model,
                                         check_width)
from edgefashion.models.registry import register_model
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training import TrainConfig, Trainer


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_meets_the_contract(name):
    cls = get_model_class(name)
    assert issubclass(cls, GarmentModule)
    cfg = {**cls.tiny_config, **cls.schema_options(LabelSchema.simple(["a", "b"], {"g": ["x", "y"]}))}
    model = create_model(name, 2, 2, **cfg)
    assert isinstance(model, GarmentModel)
    check_model(model)
    assert model.config["name"] == name
    # the optional hooks answer without hasattr: the pretrained part is part of the model
    ids = {id(p) for p in model.parameters()}
    assert all(id(p) in ids for p in model.backbone_parameters())
    stages = model.stage_param_groups()
    assert stages is None or all(id(p) in ids for group in stages for p in group)
    assert set(model.example_inputs(2)) - {"image"} == set(model.input_names) - {"image"}
    assert model.input_names[0] == "image" and isinstance(model.shared_pooled_heads, bool)


def test_the_default_hooks():
    class Tiny(GarmentModule):
        model_name, num_categories, num_attributes = "tiny", 2, 0
        output_names, config = ["category_logits", "attribute_logits"], {"name": "tiny"}

        def __init__(self):
            super().__init__()
            self.backbone = torch.nn.Conv2d(3, 4, 3)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, image):
            x = self.backbone(image).mean((2, 3))
            return {"category_logits": self.head(x), "attribute_logits": x[:, :0]}

    m = Tiny()
    assert m.backbone_module() is m.backbone
    assert [id(p) for p in m.backbone_parameters()] == [id(p) for p in m.backbone.parameters()]
    assert m.stage_param_groups() is None and m.make_loss(None, [], None) is None
    out = m.training_forward({"image": torch.zeros(1, 3, 8, 8)})
    assert out["category_logits"].shape == (1, 2)
    assert m.mean is None and m.weights_info is None and m.schema_options(None) == {}


def test_the_registry_refuses_a_class_outside_the_contract():
    with pytest.raises(TypeError, match="must derive from edgefashion.models.contract.GarmentModule"):
        register_model("plain_linear")(torch.nn.Linear)
    assert "plain_linear" not in list_models()


def test_a_module_with_the_attributes_but_not_the_base_is_refused():
    class Lookalike(torch.nn.Module):
        model_name, num_categories, num_attributes = "x", 2, 0
        output_names, config = ["category_logits", "attribute_logits"], {"name": "x"}

    with pytest.raises(ModelFileError, match="does not derive from edgefashion.models.contract.GarmentModule"):
        check_model(Lookalike())


def test_a_foreign_module_is_refused_by_name(tmp_path):
    plain = torch.nn.Linear(3, 2)
    with pytest.raises(ModelFileError, match="lacks model_name, num_categories"):
        check_model(plain)
    with pytest.raises(ModelFileError, match="not an edgefashion model"):
        Trainer(plain, LabelSchema.simple(["a", "b"]), PreprocessConfig(), TrainConfig(), tmp_path)


def test_shared_geometry_checks():
    check_input_size(224, "VGG has 5 pools")
    with pytest.raises(BadInput, match=r"input_size 100 must be a multiple of 32 \(VGG has 5 pools\)"):
        check_input_size(100, "VGG has 5 pools")
    with pytest.raises(BadInput, match="width 0 must lie in"):
        check_width(0)
    with pytest.raises(BadInput, match="multiple of 32"):
        create_model("msfan", 2, 0, input_size=100)
