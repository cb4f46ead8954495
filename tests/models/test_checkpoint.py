from __future__ import annotations

import pytest
import torch

from edgefashion.errors import ModelFileError
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, load_checkpoint, read_checkpoint, save_checkpoint
from edgefashion.runtime.preprocess import PreprocessConfig

SCHEMA = LabelSchema.simple(["tee", "jeans", "dress"], {"texture": ["striped", "dotted"]})


def _model():
    torch.manual_seed(0)
    return create_model("msfan", 3, 2, width=0.125, input_size=64).eval()


def test_round_trip_same_outputs(tmp_path):
    model = _model()
    path = save_checkpoint(tmp_path / "m.pt", model, SCHEMA, PreprocessConfig(input_size=64),
                           {"epoch": 3})
    loaded, info = load_checkpoint(path)
    assert info["schema"] == SCHEMA and info["preprocess"].input_size == 64
    assert info["raw"]["train_state"]["epoch"] == 3
    # weights_only=True must be enough to read it (no pickled classes)
    assert torch.load(path, weights_only=True)["model"] == "msfan"
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["category_logits"], model(x)["category_logits"])


def test_unknown_model_name(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _model(), SCHEMA, PreprocessConfig(input_size=64))
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"] = "resnet9000"
    torch.save(ckpt, path)
    with pytest.raises(ModelFileError, match="unknown model 'resnet9000'"):
        load_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(ModelFileError, match="is not an edgefashion checkpoint"):
        read_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ModelFileError, match="not an edgefashion checkpoint"):
        read_checkpoint(other)
    with pytest.raises(ModelFileError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.pt")
