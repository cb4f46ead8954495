"""The one reader of PyTorch weight files: checkpoints, torchvision / timm state_dicts, safetensors.

``load_torch_file`` is the single ``torch.load`` (weights only, so a file never runs code) with one
error for a missing, corrupt or foreign file; ``read_state_dict`` adds safetensors and unwraps the
usual training-checkpoint dicts down to the tensors. torch is imported lazily.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgefashion.errors import ModelFileError

# where training scripts (edgefashion's own checkpoints included) keep the tensors
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else ""


def _not_a(path: Path, what: str, e: BaseException, advice: str) -> ModelFileError:
    article = "an" if what[:1].lower() in "aeiou" else "a"
    return ModelFileError(f"{str(path)!r} is not {article} {what} ({type(e).__name__}: {_first_line(e)}); "
                          f"{advice}")


def _check_file(path: str | Path, what: str, advice: str) -> Path:
    """``path`` as a Path; ModelFileError naming it and ``advice`` when there is no such file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{what} {str(path)!r} does not exist; {advice}")
    return path


def load_torch_file(path: str | Path, what: str = "PyTorch weights file",
                    advice: str = "give a PyTorch .pth / .pt file", map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; ModelFileError naming the file when it cannot be read."""
    import torch

    path = _check_file(path, what, advice)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means "not a PyTorch file we can read"
        raise _not_a(path, what, e, advice) from e


def read_state_dict(path: str | Path, what: str = "PyTorch weights file",
                    advice: str = "give a local .pth / .pt / .safetensors state_dict file") -> dict:
    """name -> tensor from a .pth / .pt / .bin / .ckpt (torch.load, weights only) or .safetensors file.

    A training checkpoint is unwrapped ("state_dict", "model", "model_state_dict"), and the
    "module." prefix of DataParallel / DDP names is dropped.
    """
    path = _check_file(path, what, advice)
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file

            state = load_file(str(path))
        except Exception as e:  # noqa: BLE001 - a missing package or a bad file: one message
            raise _not_a(path, what, e, advice) from e
    else:
        state = load_torch_file(path, what, advice)
    for key in _WRAPPER_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(hasattr(v, "shape") for v in state.values()):
        raise ModelFileError(f"{str(path)!r} holds no state_dict (a dict of tensors); {advice}")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
