"""Engine fixtures: one tiny real MSFAN exported to ONNX per session (CPU, a few seconds)."""
from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import INPUT_SIZE, export_tiny_msfan, make_schema

from edgefashion.runtime.preprocess import PreprocessConfig


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    return export_tiny_msfan(tmp_path_factory.mktemp("engine_models") / "msfan.onnx")


@pytest.fixture(scope="session")
def schema():
    return make_schema()


@pytest.fixture(scope="session")
def prep_cfg() -> PreprocessConfig:
    return PreprocessConfig(input_size=INPUT_SIZE)
