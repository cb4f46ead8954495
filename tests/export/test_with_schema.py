"""write_with_schema: only the schema changes; files it cannot rewrite are refused by name."""
import json

import onnx
import pytest
from onnx import TensorProto, helper

from edgefashion.errors import BadInput, ModelFileError, SchemaError
from edgefashion.export.metadata import METADATA_KEY, set_onnx_metadata
from edgefashion.export.with_schema import write_with_schema
from edgefashion.labels.schema import Category, LabelSchema


def _identity(path, meta=None):
    x = helper.make_tensor_value_info("category_logits_in", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("category_logits", TensorProto.FLOAT, [1, 2])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["category_logits_in"],
                                                                  ["category_logits"])], "g", [x], [y]))
    if meta is not None:
        set_onnx_metadata(model, meta)
    onnx.save(model, str(path))
    return path


SCHEMA = LabelSchema((Category("tee"), Category("jeans")))


def test_onnx_schema_replaced_rest_kept(tmp_path):
    src = _identity(tmp_path / "m.onnx", {"model": "x", "schema": SCHEMA.to_dict(), "keep": [1, 2]})
    write_with_schema(src, tmp_path / "out.onnx", SCHEMA.with_temperatures(0.5))
    out = onnx.load(str(tmp_path / "out.onnx"))
    meta = json.loads(next(p.value for p in out.metadata_props if p.key == METADATA_KEY))
    assert meta["keep"] == [1, 2] and meta["schema"]["category_temperature"] == 0.5
    assert out.graph == onnx.load(str(src)).graph
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
    src.chmod(0o644)
    write_with_schema(src, tmp_path / "readable.onnx", SCHEMA)
    assert (tmp_path / "readable.onnx").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_refusals(tmp_path):
    with pytest.raises(ModelFileError, match="has no edgefashion metadata"):
        write_with_schema(_identity(tmp_path / "bare.onnx"), tmp_path / "o.onnx", SCHEMA)
    three = LabelSchema((Category("a"), Category("b"), Category("c")))
    src = _identity(tmp_path / "m.onnx", {"schema": SCHEMA.to_dict()})
    with pytest.raises(SchemaError, match="2 category and 0 attribute outputs"):
        write_with_schema(src, tmp_path / "o.onnx", three)
    with pytest.raises(BadInput, match="only a checkpoint"):
        write_with_schema(tmp_path / "m.engine", tmp_path / "o.engine", SCHEMA)
