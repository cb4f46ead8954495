"""The one reader of weight files: every failure is a ModelFileError naming the file and what to do."""
from __future__ import annotations

import pytest
import torch

from edgefashion.errors import ModelFileError
from edgefashion.models.state_dict import load_torch_file, read_state_dict

ADVICE = "give a torchvision file"


def test_missing_and_corrupt_files_name_the_path_and_what_to_do(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(ModelFileError) as e:
        read_state_dict(missing, advice=ADVICE)
    assert str(e.value) == f"PyTorch weights file {str(missing)!r} does not exist; {ADVICE}"
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(ModelFileError, match=rf"junk.pth' is not a PyTorch weights file \(.*\); {ADVICE}$"):
        read_state_dict(junk, advice=ADVICE)
    with pytest.raises(ModelFileError, match="junk.pth' is not an edgefashion checkpoint"):
        load_torch_file(junk, "edgefashion checkpoint", ADVICE)
    other = tmp_path / "other.pth"
    torch.save({"epoch": 3}, other)
    with pytest.raises(ModelFileError, match=f"other.pth' holds no state_dict .*; {ADVICE}"):
        read_state_dict(other, advice=ADVICE)


@pytest.mark.parametrize("wrap", [lambda s: s, lambda s: {"state_dict": s, "epoch": 1},
                                  lambda s: {"model": s}, lambda s: {"model_state_dict": s},
                                  lambda s: {f"module.{k}": v for k, v in s.items()}])
def test_training_checkpoint_wrappers_are_unwrapped(tmp_path, wrap):
    state = {"conv.weight": torch.randn(2, 3), "conv.bias": torch.zeros(2)}
    path = tmp_path / "w.pt"
    torch.save(wrap(state), path)
    got = read_state_dict(path)
    assert list(got) == list(state)
    torch.testing.assert_close(got["conv.weight"], state["conv.weight"])


def test_safetensors_files_are_read(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    state = {"fc.weight": torch.randn(4, 2)}
    path = tmp_path / "w.safetensors"
    safetensors.save_file(state, str(path))
    torch.testing.assert_close(read_state_dict(path)["fc.weight"], state["fc.weight"])
    path.write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="w.safetensors' is not a PyTorch weights file"):
        read_state_dict(path)
