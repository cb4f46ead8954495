"""Bench fixtures: one tiny real MSFAN exported to ONNX (and a checkpoint), and a few real photos."""
from __future__ import annotations

from pathlib import Path

import pytest

INPUT_SIZE = 64


@pytest.fixture(scope="session")
def tiny_schema():
    from edgefashion.labels import LabelSchema

    return LabelSchema.simple([f"c{i}" for i in range(6)], {"texture": ["striped", "dotted", "plain"]})


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench_models")


@pytest.fixture(scope="session")
def tiny_model(tiny_schema):
    torch = pytest.importorskip("torch")
    from edgefashion.models import create_model

    torch.manual_seed(0)
    return create_model("msfan", tiny_schema.num_categories, tiny_schema.num_attributes,
                        width=0.125, input_size=INPUT_SIZE).eval()


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model, tiny_schema, tiny_dir) -> Path:
    from edgefashion.export.onnx import export_onnx
    from edgefashion.runtime.preprocess import PreprocessConfig

    path = tiny_dir / "tiny.onnx"
    export_onnx(tiny_model, tiny_schema, PreprocessConfig(input_size=INPUT_SIZE), path)
    return path


@pytest.fixture(scope="session")
def tiny_ckpt(tiny_model, tiny_schema, tiny_dir) -> Path:
    from edgefashion.models import save_checkpoint
    from edgefashion.runtime.preprocess import PreprocessConfig

    return save_checkpoint(tiny_dir / "tiny.pt", tiny_model, tiny_schema,
                           PreprocessConfig(input_size=INPUT_SIZE))


@pytest.fixture(scope="session")
def photos(real_photos) -> list[Path]:
    """Four real clothing photos (skips without the shared data)."""
    return list(real_photos[::5][:4])
