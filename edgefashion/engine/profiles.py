"""Optimization profiles of a build: ``--batch 1:8:32`` -> (min, opt, max) shapes for every network input.

The exported models have one dynamic dimension, the batch (dim 0); everything else is fixed by the
export. A profile gives TensorRT the smallest, the most frequent and the largest batch to optimize for.
``BatchRange`` and ``is_dynamic`` are the runtime's (``runtime.tensorrt.profiles``): the loader reads the
same ranges back from the engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from edgefashion.config_dict import strict_from_dict
from edgefashion.errors import ShapeError
from edgefashion.runtime.tensorrt.profiles import BatchRange, is_dynamic

DEFAULT_BATCH = BatchRange(1, 8, 32)


@dataclass(frozen=True)
class ProfileShapes:
    """(min, opt, max) shapes of one input in one profile."""

    min: tuple
    opt: tuple
    max: tuple

    def to_dict(self) -> dict:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "ProfileShapes":
        return strict_from_dict(cls, d, "profile shape keys",
                                convert={k: _int_tuple for k in ("min", "opt", "max")})


def _int_tuple(values) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def plan_profile(inputs: Mapping[str, Sequence], batch: BatchRange | str | int) -> dict[str, ProfileShapes]:
    """Profile shapes for each network input from its declared shape and the batch range.

    ``inputs``: name -> shape as declared by the network (dynamic dims as -1 / None / a name).
    Dim 0 is the batch; it takes ``batch.min/opt/max`` when dynamic, and must equal a fixed batch when
    static. Any other dynamic dim is an error (the exported models fix them).
    """
    batch = BatchRange.parse(batch)
    if not inputs:
        raise ShapeError("the network has no inputs; is the ONNX file an edgefashion model?")
    out = {}
    for name, shape in inputs.items():
        shape = tuple(shape)
        if not shape:
            raise ShapeError(f"input {name!r} is a scalar; edgefashion models take batched tensors (N, ...)")
        for i, d in enumerate(shape[1:], start=1):
            if is_dynamic(d):
                raise ShapeError(
                    f"input {name!r} has shape {_fmt(shape)} with a dynamic dimension {i}; only the batch "
                    "(dimension 0) may be dynamic: re-export the model with a fixed input size "
                    "(edgefashion export fixes it from the preprocessing)"
                )
        rest = tuple(int(d) for d in shape[1:])
        if is_dynamic(shape[0]):
            out[name] = ProfileShapes((batch.min, *rest), (batch.opt, *rest), (batch.max, *rest))
        else:
            n = int(shape[0])
            if not (batch.fixed and batch.min == n):
                raise ShapeError(
                    f"input {name!r} has a static batch of {n} (shape {_fmt(shape)}), so --batch {batch} "
                    f"cannot apply; build with --batch {n}, or re-export the model with a dynamic batch"
                )
            out[name] = ProfileShapes((n, *rest), (n, *rest), (n, *rest))
    return out


def default_batch(inputs: Mapping[str, Sequence]) -> BatchRange:
    """1:8:32 for a dynamic-batch model (the Predictor's default batch is 8); the static batch otherwise."""
    firsts = [tuple(shape)[0] for shape in inputs.values() if len(tuple(shape))]
    if firsts and not any(is_dynamic(d) for d in firsts) and len({int(d) for d in firsts}) == 1:
        return BatchRange.parse(int(firsts[0]))
    return DEFAULT_BATCH


def needs_profile(inputs: Mapping[str, Sequence]) -> bool:
    """Whether any input has a dynamic dimension (TensorRT then needs an optimization profile)."""
    return any(is_dynamic(d) for shape in inputs.values() for d in shape)


def profiles_to_dict(profiles: Mapping[str, ProfileShapes]) -> dict:
    return {name: p.to_dict() for name, p in profiles.items()}


def profiles_from_dict(d: Mapping) -> dict[str, ProfileShapes]:
    return {name: ProfileShapes.from_dict(p) for name, p in d.items()}


def batch_range_of(profiles: Mapping[str, ProfileShapes]) -> BatchRange:
    """The batch range of planned profiles (dim 0 of the first input)."""
    first = next(iter(profiles.values()))
    return BatchRange(first.min[0], first.opt[0], first.max[0])


def _fmt(shape) -> str:
    return "(" + ", ".join("?" if is_dynamic(d) else str(d) for d in shape) + ")"
