"""Helpers for the engine tests: the runtime tests' tiny-model helpers, and a tiny exported MSFAN."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from runtime_helpers import INPUT_SIZE, lsuv_, make_schema, smooth_noise  # noqa: E402

__all__ = ["INPUT_SIZE", "export_tiny_msfan", "make_schema", "smooth_noise"]


def export_tiny_msfan(path: Path, custom_ops: bool = False) -> Path:
    """A real MSFAN (width 0.125, 64x64 input) exported with edgefashion.export.onnx.export_onnx
    (``custom_ops``: with edgefashion's ChannelAttention / SpatialGate nodes for the TensorRT plugin)."""
    import torch

    from edgefashion.export.onnx import export_onnx
    from edgefashion.models import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig

    schema = make_schema()
    torch.manual_seed(0)
    model = create_model("msfan", schema.num_categories, schema.num_attributes, width=0.125,
                         input_size=INPUT_SIZE)
    lsuv_(model.eval(), torch.from_numpy(smooth_noise(8, INPUT_SIZE)))
    export_onnx(model, schema, PreprocessConfig(input_size=INPUT_SIZE), path, custom_ops=custom_ops)
    return path
