"""Checkpoints: a plain dict (weights + config + LabelSchema + preprocessing), weights_only loadable."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from edgefashion.errors import ModelFileError, UnknownName
from edgefashion.labels import LabelSchema
from edgefashion.models.registry import create_model
from edgefashion.models.state_dict import load_torch_file
from edgefashion.runtime.preprocess import PreprocessConfig

FORMAT = "edgefashion-checkpoint"
FORMAT_VERSION = 1
_MAKE_ONE = "make checkpoints with `edgefashion train`, or check the path"


def save_checkpoint(path: str | Path, model, schema: LabelSchema, preprocess: PreprocessConfig,
                    train_state: dict | None = None) -> Path:
    """Write atomically (temp file + rename) so an interrupted save never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = dict(model.config)
    ckpt = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": cfg.pop("name"),
        "model_config": cfg, "schema": schema.to_dict(), "preprocess": preprocess.to_dict(),
        "num_categories": model.num_categories, "num_attributes": model.num_attributes,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_state": train_state or {},
        # where the pretrained start came from (source, sha256, family, mean / std), or None
        "weights_info": model.weights_info,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    """The checkpoint dict; ModelFileError for a missing file, a foreign one or a newer format."""
    path = Path(path)
    ckpt = load_torch_file(path, "edgefashion checkpoint", _MAKE_ONE, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ModelFileError(
            f"{str(path)!r} is a PyTorch file but not an edgefashion checkpoint "
            "(no 'format': 'edgefashion-checkpoint'); make checkpoints with `edgefashion train`"
        )
    if int(ckpt.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(f"{str(path)!r} was written by a newer edgefashion; upgrade edgefashion")
    return ckpt


def load_checkpoint(path: str | Path, map_location: Any = "cpu"):
    """-> (model in eval mode, {"schema": LabelSchema, "preprocess": PreprocessConfig, "raw": dict})."""
    ckpt = read_checkpoint(path, map_location)
    schema = LabelSchema.from_dict(ckpt["schema"])
    try:
        model = create_model(ckpt["model"], ckpt["num_categories"], ckpt["num_attributes"],
                             **ckpt["model_config"])
    except UnknownName as e:
        raise ModelFileError(f"checkpoint {str(path)!r} holds an unknown model: {e}") from e
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    if ckpt.get("weights_info"):  # re-exports and re-saves keep recording the pretrained start
        model.weights_info = dict(ckpt["weights_info"])
    schema.check_outputs(model.num_categories, model.num_attributes, f"checkpoint {str(path)!r}")
    info = {"schema": schema, "preprocess": PreprocessConfig.from_dict(ckpt["preprocess"]), "raw": ckpt}
    return model, info
