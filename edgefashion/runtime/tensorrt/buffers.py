"""Buffer sizing for an engine's inputs and outputs, in plain numpy (no TensorRT, no CUDA).

The backend allocates one pinned host buffer and one device buffer per I/O tensor, sized for the
profile's max shapes, once; every inference reuses them with the shapes of the batch at hand.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from edgefashion.runtime.tensorrt.profiles import is_dynamic
from edgefashion.errors import BadInput, ShapeError

ALIGNMENT = 256  # bytes; cudaMalloc gives at least this, and it keeps TensorRT's vectorized I/O happy

# TensorRT DataType member name -> numpy dtype (BF16 / FP8 / FP4 / INT4 have no numpy type)
TRT_DTYPES: dict[str, np.dtype] = {
    "FLOAT": np.dtype(np.float32), "HALF": np.dtype(np.float16), "INT8": np.dtype(np.int8),
    "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64), "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8), "DOUBLE": np.dtype(np.float64),
}


def numpy_dtype(trt_dtype) -> np.dtype:
    """A TensorRT DataType (or its name, 'FLOAT' / 'DataType.HALF') -> numpy dtype."""
    name = getattr(trt_dtype, "name", None) or str(trt_dtype)
    name = name.rsplit(".", 1)[-1].upper()
    if name not in TRT_DTYPES:
        raise ShapeError(f"engine tensor type {name} has no numpy equivalent (supported: "
                         f"{', '.join(TRT_DTYPES)}); keep the model's inputs and outputs in float32 / float16")
    return TRT_DTYPES[name]


def as_dtype(dtype) -> np.dtype:
    """numpy dtype / type / name ('float32') or TensorRT DataType / name ('HALF') -> numpy dtype."""
    if isinstance(dtype, np.dtype):
        return dtype
    if isinstance(dtype, type):
        return np.dtype(dtype)
    name = (getattr(dtype, "name", None) or str(dtype)).rsplit(".", 1)[-1]
    if name.upper() in TRT_DTYPES:
        return TRT_DTYPES[name.upper()]
    try:
        return np.dtype(name)
    except TypeError:
        return numpy_dtype(dtype)  # raises the ShapeError listing the supported types


def aligned(nbytes: int, alignment: int = ALIGNMENT) -> int:
    return -(-int(nbytes) // alignment) * alignment


@dataclass(frozen=True)
class TensorBuffer:
    """One I/O tensor: its declared shape (-1 for dynamic), dtype and the max shape buffers hold."""

    name: str
    is_input: bool
    dtype: np.dtype
    shape: tuple       # as declared by the engine, -1 for the batch when dynamic
    max_shape: tuple   # concrete, from the profile's max

    @property
    def nbytes(self) -> int:
        """Bytes for the max shape."""
        return int(math.prod(self.max_shape)) * self.dtype.itemsize

    @property
    def alloc_bytes(self) -> int:
        return max(aligned(self.nbytes), ALIGNMENT)

    def shape_for(self, batch: int) -> tuple:
        """The concrete shape of this tensor at ``batch`` (dynamic dim 0 -> batch)."""
        if batch > self.max_shape[0] and is_dynamic(self.shape[0]):
            raise ShapeError(f"batch {batch} is larger than the engine's max batch {self.max_shape[0]} for "
                             f"{self.name!r}; rebuild with a larger --batch max or send smaller batches")
        return tuple(batch if i == 0 and is_dynamic(d) else int(m)
                     for i, (d, m) in enumerate(zip(self.shape, self.max_shape)))


@dataclass(frozen=True)
class BufferPlan:
    """All I/O buffers of one execution context."""

    tensors: tuple  # TensorBuffer, inputs first, in engine order

    @property
    def inputs(self) -> list[TensorBuffer]:
        return [t for t in self.tensors if t.is_input]

    @property
    def outputs(self) -> list[TensorBuffer]:
        return [t for t in self.tensors if not t.is_input]

    @property
    def total_bytes(self) -> int:
        """Device bytes (and as many pinned host bytes) the plan allocates."""
        return sum(t.alloc_bytes for t in self.tensors)

    def __getitem__(self, name: str) -> TensorBuffer:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def describe(self) -> str:
        rows = [f"{'in ' if t.is_input else 'out'} {t.name}: {t.dtype.name} max {t.max_shape} "
                f"({t.nbytes / 2**20:.2f} MiB)" for t in self.tensors]
        return "\n".join(rows + [f"total {self.total_bytes / 2**20:.2f} MiB"])


def resolve_output_shape(name: str, shape: Sequence[int], max_batch: int) -> tuple:
    """An output's max shape when only its batch dim (0) is dynamic: -1 -> ``max_batch``."""
    shape = tuple(int(d) if not is_dynamic(d) else -1 for d in shape)
    if any(d < 0 for d in shape[1:]):
        raise ShapeError(
            f"output {name!r} has shape {shape} with a data-dependent dimension besides the batch; "
            "edgefashion engines need outputs whose size follows from the input shapes"
        )
    return (max_batch if shape and shape[0] < 0 else shape[0], *shape[1:]) if shape else ()


def plan_buffers(io: Sequence[tuple], max_shapes: Mapping[str, Sequence[int]]) -> BufferPlan:
    """Size the buffers.

    ``io``: [(name, is_input, dtype (numpy or TensorRT), declared shape)] in engine order.
    ``max_shapes``: name -> concrete max shape for every input (the profile's max) and, where known,
    for outputs (the context's shapes with max inputs set); other outputs get their batch dim from the
    inputs' max batch.
    """
    inputs = [t for t in io if t[1]]
    if not inputs:
        raise ShapeError("the engine has no inputs")
    missing = [t[0] for t in inputs if t[0] not in max_shapes]
    if missing:
        raise BadInput(f"no max shape for inputs {missing}; the profile covers {sorted(max_shapes)}")
    max_batch = max(int(max_shapes[t[0]][0]) for t in inputs if len(max_shapes[t[0]]))
    out = []
    for name, is_input, dtype, shape in io:
        dt = as_dtype(dtype)
        if name in max_shapes:
            mx = tuple(int(d) for d in max_shapes[name])
        else:
            mx = resolve_output_shape(name, shape, max_batch)
        if any(d < 0 for d in mx):
            raise ShapeError(f"max shape {mx} of {name!r} still has a dynamic dimension")
        out.append(TensorBuffer(name, bool(is_input), dt, tuple(int(d) if not is_dynamic(d) else -1
                                                               for d in shape), mx))
    return BufferPlan(tuple(sorted(out, key=lambda t: not t.is_input)))


def host_view(buffer, shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """A numpy view of the first ``prod(shape)`` items of a host buffer (numpy array or buffer object)."""
    flat = np.frombuffer(buffer, dtype=np.uint8) if not isinstance(buffer, np.ndarray) else buffer.view(np.uint8)
    n = int(math.prod(shape)) * np.dtype(dtype).itemsize
    if n > flat.size:
        raise ShapeError(f"a host buffer of {flat.size} bytes cannot hold {tuple(shape)} {np.dtype(dtype).name}")
    return flat[:n].view(dtype).reshape(tuple(shape))
