"""Buffer sizing from the profile's max shapes, checked against what ONNX Runtime really returns."""
from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import smooth_noise

from edgefashion.runtime.tensorrt.buffers import (ALIGNMENT, TRT_DTYPES, as_dtype, host_view, numpy_dtype, plan_buffers,
                                        resolve_output_shape)
from edgefashion.runtime.tensorrt.profiles import BatchRange, split_batch
from edgefashion.errors import ShapeError


class FakeDataType:  # stands for a TensorRT DataType enum member: only .name is read
    def __init__(self, name: str) -> None:
        self.name = name


@pytest.mark.parametrize("name, dtype", [("FLOAT", np.float32), ("HALF", np.float16), ("INT8", np.int8),
                                         ("INT32", np.int32), ("INT64", np.int64), ("BOOL", np.bool_)])
def test_dtype_names(name, dtype):
    assert numpy_dtype(FakeDataType(name)) == np.dtype(dtype)
    assert numpy_dtype(f"DataType.{name}") == np.dtype(dtype)
    assert as_dtype(name) == as_dtype(np.dtype(dtype)) == as_dtype(dtype) == np.dtype(dtype)


def test_unsupported_dtype_is_a_clear_error():
    with pytest.raises(ShapeError, match="BF16 has no numpy equivalent.*FLOAT"):
        numpy_dtype(FakeDataType("BF16"))
    assert set(TRT_DTYPES) >= {"FLOAT", "HALF", "INT8", "INT32", "BOOL"}


def test_resolve_output_shape():
    assert resolve_output_shape("gate1", (-1, 1, 32, 32), 8) == (8, 1, 32, 32)
    assert resolve_output_shape("x", (4, 10), 8) == (4, 10)
    with pytest.raises(ShapeError, match="data-dependent"):
        resolve_output_shape("boxes", (-1, -1, 4), 8)


def _ort_io(path):
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    io = [(i.name, True, np.float32, tuple(d if isinstance(d, int) else -1 for d in i.shape))
          for i in s.get_inputs()]
    io += [(o.name, False, np.float32, tuple(d if isinstance(d, int) else -1 for d in o.shape))
           for o in s.get_outputs()]
    return s, io


def test_plan_matches_real_outputs_of_an_exported_msfan(tiny_onnx):
    session, io = _ort_io(tiny_onnx)
    limits = BatchRange.parse("1:4:32")
    plan = plan_buffers(io, {"image": (32, 3, 64, 64)})
    assert [t.name for t in plan.inputs] == ["image"]
    assert [t.name for t in plan.outputs] == [o.name for o in session.get_outputs()]
    real = dict(zip([o.name for o in session.get_outputs()],
                    session.run(None, {"image": smooth_noise(32, 64)})))
    for t in plan.outputs:
        assert t.max_shape == real[t.name].shape, t.name
        assert t.nbytes == real[t.name].nbytes
        assert t.alloc_bytes % ALIGNMENT == 0 and t.alloc_bytes >= t.nbytes
        assert t.shape_for(5) == (5, *real[t.name].shape[1:])
    assert plan["image"].nbytes == 32 * 3 * 64 * 64 * 4
    assert plan.total_bytes == sum(t.alloc_bytes for t in plan.tensors)
    assert "total" in plan.describe() and "category_logits" in plan.describe()
    with pytest.raises(ShapeError, match="larger than the engine's max batch 32"):
        plan["image"].shape_for(33)
    assert split_batch(40, limits) == [(0, 32, 32), (32, 40, 8)]


def test_host_views_reuse_one_buffer_per_tensor(tiny_onnx):
    session, io = _ort_io(tiny_onnx)
    plan = plan_buffers(io, {"image": (8, 3, 64, 64)})
    t = plan["category_logits"]
    buf = np.zeros(t.alloc_bytes, np.uint8)  # stands for the pinned host buffer
    for batch in (1, 3, 8):
        view = host_view(buf, t.shape_for(batch), t.dtype)
        view[:] = np.arange(view.size, dtype=np.float32).reshape(view.shape)
        assert view.shape == (batch, 10) and np.shares_memory(view, buf)
        assert host_view(buf, t.shape_for(batch), t.dtype)[batch - 1, 9] == batch * 10 - 1
    with pytest.raises(ShapeError, match="cannot hold"):
        host_view(buf, (1000, 10), np.float32)


def test_plan_errors():
    with pytest.raises(ShapeError, match="no inputs"):
        plan_buffers([("y", False, np.float32, (-1, 10))], {})
    with pytest.raises(Exception, match="no max shape for inputs"):
        plan_buffers([("x", True, np.float32, (-1, 3))], {})
