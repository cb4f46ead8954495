"""The edgefashion metadata block carried by every exported artifact."""
from __future__ import annotations

import json
import platform
from datetime import datetime, timezone

from edgefashion.labels import LabelSchema
from edgefashion.runtime.preprocess import PreprocessConfig

METADATA_KEY = "edgefashion"
METADATA_VERSION = 1


def build_metadata(model, schema: LabelSchema, preprocess: PreprocessConfig, **extra) -> dict:
    import torch

    import edgefashion

    cfg = dict(model.config)
    return {
        "format_version": METADATA_VERSION,
        "model": cfg.pop("name"),
        "model_config": cfg,
        "schema": schema.to_dict(),
        "preprocess": preprocess.to_dict(),
        "outputs": list(model.output_names),
        # the pretrained weights the model started from: source, sha256, family, mean / std
        "weights": model.weights_info,
        "producer": {
            "edgefashion": edgefashion.__version__, "torch": torch.__version__,
            "python": platform.python_version(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
        **extra,
    }


def set_onnx_metadata(onnx_model, metadata: dict) -> None:
    """Write (or replace) the metadata_props entry of an onnx.ModelProto."""
    for prop in list(onnx_model.metadata_props):
        if prop.key == METADATA_KEY:
            onnx_model.metadata_props.remove(prop)
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
