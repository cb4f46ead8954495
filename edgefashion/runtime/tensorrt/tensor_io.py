"""An engine's inputs and outputs through whichever API the TensorRT has (thin).

``NamedTensorIO``: TensorRT >= 8.5 (``num_io_tensors``, ``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``). ``BindingsIO``: the bindings API, only for a TensorRT that lacks the named one.
Both expose the same few calls, so the backend has one code path.
"""
from __future__ import annotations

from edgefashion.errors import ModelFileError, ShapeError
from edgefashion.runtime.tensorrt.buffers import as_dtype


class NamedTensorIO:
    def __init__(self, trt, engine) -> None:
        self.trt, self.engine = trt, engine
        self.names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]

    def tensors(self) -> list[tuple]:
        """[(name, is_input, numpy dtype, declared shape)] in engine order."""
        out = []
        for name in self.names:
            is_input = self.engine.get_tensor_mode(name) == self.trt.TensorIOMode.INPUT
            out.append((name, is_input, as_dtype(self.engine.get_tensor_dtype(name)),
                        tuple(int(d) for d in self.engine.get_tensor_shape(name))))
        return out

    def profile(self, name: str, index: int = 0) -> tuple:
        """(min, opt, max) shapes of an input in optimization profile ``index``."""
        return tuple(tuple(int(d) for d in s) for s in self.engine.get_tensor_profile_shape(name, index))

    def set_input_shape(self, context, name: str, shape) -> None:
        if not context.set_input_shape(name, tuple(int(d) for d in shape)):
            raise ShapeError(f"TensorRT rejected shape {tuple(shape)} for input {name!r}")

    def shape(self, context, name: str) -> tuple:
        return tuple(int(d) for d in context.get_tensor_shape(name))

    def bind(self, context, name: str, ptr: int) -> None:
        # set_tensor_address returns False (and logs) for an unknown name or a misaligned / null address
        if not context.set_tensor_address(name, int(ptr)):
            raise ModelFileError(f"TensorRT rejected the device address {int(ptr):#x} for tensor {name!r}: "
                                 "the engine does not name this tensor as the sidecar says; rebuild it")

    def execute(self, context, stream: int) -> bool:
        return bool(context.execute_async_v3(stream))


class BindingsIO:
    """The bindings API (TensorRT < 8.5; edgefashion supports 8.5+, kept for engines on older Jetsons)."""

    def __init__(self, trt, engine) -> None:
        self.trt, self.engine = trt, engine
        self.names = [engine.get_binding_name(i) for i in range(engine.num_bindings)]
        self.pointers = [0] * len(self.names)

    def tensors(self) -> list[tuple]:
        return [(name, bool(self.engine.binding_is_input(i)), as_dtype(self.engine.get_binding_dtype(i)),
                 tuple(int(d) for d in self.engine.get_binding_shape(i)))
                for i, name in enumerate(self.names)]

    def profile(self, name: str, index: int = 0) -> tuple:
        i = self.names.index(name)
        return tuple(tuple(int(d) for d in s) for s in self.engine.get_profile_shape(index, i))

    def set_input_shape(self, context, name: str, shape) -> None:
        if not context.set_binding_shape(self.names.index(name), tuple(int(d) for d in shape)):
            raise ShapeError(f"TensorRT rejected shape {tuple(shape)} for input {name!r}")

    def shape(self, context, name: str) -> tuple:
        return tuple(int(d) for d in context.get_binding_shape(self.names.index(name)))

    def bind(self, context, name: str, ptr: int) -> None:
        self.pointers[self.names.index(name)] = int(ptr)

    def execute(self, context, stream: int) -> bool:
        return bool(context.execute_async_v2(self.pointers, stream))


def engine_io(trt, engine, named_tensors: bool):
    return NamedTensorIO(trt, engine) if named_tensors else BindingsIO(trt, engine)
