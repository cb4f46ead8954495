"""Runtime fixtures: one tiny real MSFAN, exported to ONNX and saved as a checkpoint, per session."""
from __future__ import annotations

from pathlib import Path

import pytest
from runtime_helpers import INPUT_SIZE, lsuv_, make_schema, smooth_noise

from edgefashion.labels import LabelSchema
from edgefashion.runtime.preprocess import PreprocessConfig


@pytest.fixture(scope="session")
def schema() -> LabelSchema:
    return make_schema()


@pytest.fixture(scope="session")
def prep_cfg() -> PreprocessConfig:
    return PreprocessConfig(input_size=INPUT_SIZE)


@pytest.fixture(scope="session")
def torch_model(schema):
    torch = pytest.importorskip("torch")
    from edgefashion.models import create_model

    torch.manual_seed(0)
    model = create_model("msfan", schema.num_categories, schema.num_attributes, width=0.125,
                         input_size=INPUT_SIZE)
    # scores, top-1 and gates that vary with the image make the backend comparisons meaningful
    return lsuv_(model.eval(), torch.from_numpy(smooth_noise(8, INPUT_SIZE)))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def onnx_path(torch_model, schema, prep_cfg, model_dir) -> Path:
    """A real exported model (edgefashion.export.onnx.export_onnx: onnxslim, metadata, checked)."""
    from edgefashion.export.onnx import export_onnx

    path = model_dir / "msfan.onnx"
    export_onnx(torch_model, schema, prep_cfg, path)
    return path


@pytest.fixture(scope="session")
def onnx_no_meta_path(onnx_path, model_dir) -> Path:
    onnx = pytest.importorskip("onnx")
    m = onnx.load(str(onnx_path))
    del m.metadata_props[:]
    path = model_dir / "no_meta.onnx"
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="session")
def ckpt_path(torch_model, schema, prep_cfg, model_dir) -> Path:
    from edgefashion.models import save_checkpoint

    return save_checkpoint(model_dir / "msfan.pt", torch_model, schema, prep_cfg)


@pytest.fixture(scope="session")
def onnx_predictor(onnx_path):
    from edgefashion.runtime.predictor import Predictor

    return Predictor(onnx_path, batch_size=4, threads=1)
