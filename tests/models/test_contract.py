"""The declared model contract: every registered model meets it; a foreign module is refused with
a typed error naming what it lacks; the shared input-size / width checks."""
from __future__ import annotations

import pytest
import torch

from edgefashion.errors import BadInput, ModelFileError
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class, list_models
from edgefashion.models.contract import GarmentModel, check_input_size, check_model, check_width
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training import TrainConfig, Trainer


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_meets_the_contract(name):
    cfg = dict(get_model_class(name).tiny_config)
    if hasattr(get_model_class(name), "schema_options"):
        cfg.update(get_model_class(name).schema_options(
            LabelSchema.simple(["a", "b"], {"g": ["x", "y"]})))
    model = create_model(name, 2, 2, **cfg)
    assert isinstance(model, GarmentModel)
    check_model(model)
    assert model.config["name"] == name


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
