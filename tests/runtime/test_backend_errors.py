"""Who is at fault: inputs that break the model's declared inputs are ShapeError (a BadInput: HTTP
400); a runtime that fails on valid inputs (here a real allocation failure) is BackendError (5xx)."""
from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgefashion.errors import BackendError, BadInput, ShapeError
from tests.runtime.runtime_helpers import huge_branch

BACKENDS = ["onnxruntime"] + (["openvino"] if importlib.util.find_spec("openvino") else [])


@pytest.fixture(scope="module")
def huge_onnx(tmp_path_factory):
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"], name="/id")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])])
    huge_branch(g, "x")
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("faults") / "huge.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_runtime_fault_on_valid_inputs_is_a_backend_error(huge_onnx, backend):
    from edgefashion.runtime.backends.base import load_backend

    b = load_backend(huge_onnx, backend)
    with pytest.raises(BackendError, match="match its declared inputs") as e:
        b.infer({"x": np.ones((1, 1), np.float32)})
    assert not isinstance(e.value, BadInput)  # the server must not blame the request


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_that_break_the_declaration_are_still_the_callers_fault(huge_onnx, backend):
    from edgefashion.runtime.backends.base import load_backend

    b = load_backend(huge_onnx, backend)
    with pytest.raises(ShapeError, match=r"has shape \(1, 2\)"):
        b.infer({"x": np.ones((1, 2), np.float32)})
