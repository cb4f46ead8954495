"""build_model's seed: one training seed starts from one model (heads and attention gates are new
layers, randomly initialised); and the train CLI's --wise-ft parsing."""
from __future__ import annotations

import pytest
import torch

from edgefashion.cli.train import wise_ft_of
from edgefashion.errors import BadInput
from edgefashion.labels import LabelSchema
from edgefashion.models.build import build_model

SCHEMA = LabelSchema.simple(["a", "b"], {"fit": ["loose", "tight"]}, exclusive_groups=["fit"])
OPTS = {"width": 0.25, "input_size": 64, "head_dim": 32}


def _state(seed):
    model, _ = build_model("msfan_lite", SCHEMA, OPTS, 64, None, seed=seed)
    return model.state_dict()


def test_one_seed_one_initialisation_and_another_seed_another():
    a, again, other = _state(3), _state(3), _state(4)
    assert all(torch.equal(a[k], again[k]) for k in a)
    new_layers = [k for k in a if k.startswith(("attribute_head.", "gates.")) and k.endswith("weight")]
    assert new_layers and all(not torch.equal(a[k], other[k]) for k in new_layers)


@pytest.mark.parametrize("text, want", [(None, None), ("none", ()), ("off", ()),
                                        ("0.5", (0.5,)), ("0.25,0.5,0.75", (0.25, 0.5, 0.75))])
def test_wise_ft_flag(text, want):
    assert wise_ft_of(text) == want


def test_wise_ft_flag_names_a_bad_value():
    with pytest.raises(BadInput, match="--wise-ft 'half'.*comma-separated"):
        wise_ft_of("half")
