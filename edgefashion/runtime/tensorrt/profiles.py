"""Optimization profiles: ``--batch 1:8:32`` -> (min, opt, max) shapes for every network input.

The exported models have one dynamic dimension, the batch (dim 0); everything else is fixed by the
export. A profile gives TensorRT the smallest, the most frequent and the largest batch to optimize for;
the backend sizes its buffers from the max.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from edgefashion.config_dict import strict_from_dict
from edgefashion.errors import BadInput, ShapeError

MAX_BATCH = 4096  # a sanity bound: buffers are allocated for the max batch up front


@dataclass(frozen=True)
class BatchRange:
    """Batch sizes of one optimization profile: ``min <= opt <= max``."""

    min: int = 1
    opt: int = 1
    max: int = 1

    def __post_init__(self) -> None:
        for name in ("min", "opt", "max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise BadInput(f"batch {name}={v!r} must be a whole number >= 1")
        if not self.min <= self.opt <= self.max:
            raise BadInput(f"batch sizes must satisfy min <= opt <= max; got {self.min}:{self.opt}:{self.max}")
        if self.max > MAX_BATCH:
            raise BadInput(f"batch max={self.max} is larger than {MAX_BATCH}; buffers are allocated for the "
                           "max batch, so pick the largest batch you really run")

    @classmethod
    def parse(cls, text: str | int | "BatchRange") -> "BatchRange":
        """'8' (fixed), '1:32' (opt = max), '1:8:32' -> BatchRange."""
        if isinstance(text, BatchRange):
            return text
        if isinstance(text, int) and not isinstance(text, bool):
            return cls(text, text, text)
        parts = str(text).strip().split(":")
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise BadInput(f"--batch {text!r} must be N, MIN:MAX or MIN:OPT:MAX with whole numbers, "
                           "e.g. 1:8:32") from None
        if len(values) == 1:
            return cls(values[0], values[0], values[0])
        if len(values) == 2:
            return cls(values[0], values[1], values[1])
        if len(values) == 3:
            return cls(*values)
        raise BadInput(f"--batch {text!r} has {len(values)} parts; give N, MIN:MAX or MIN:OPT:MAX (e.g. 1:8:32)")

    @property
    def fixed(self) -> bool:
        return self.min == self.max

    def __str__(self) -> str:
        return f"{self.min}:{self.opt}:{self.max}"


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


def is_dynamic(dim) -> bool:
    """A dimension that TensorRT / ONNX leaves open: -1, None, or a symbolic name such as 'batch'."""
    return dim is None or isinstance(dim, str) or (isinstance(dim, int) and dim < 0)


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


def split_batch(n: int, limits: BatchRange) -> list[tuple[int, int, int]]:
    """How to run ``n`` items on an engine whose profile allows ``limits``.

    -> [(start, stop, run_batch)]: chunks of at most ``max``; a chunk smaller than ``min`` runs padded
    to ``min`` (``run_batch``), and only its first ``stop - start`` results are kept.
    """
    if n < 0:
        raise BadInput(f"batch of {n} items is negative")
    out = []
    for start in range(0, n, limits.max):
        stop = min(n, start + limits.max)
        out.append((start, stop, max(stop - start, limits.min)))
    return out


def _fmt(shape) -> str:
    return "(" + ", ".join("?" if is_dynamic(d) else str(d) for d in shape) + ")"
