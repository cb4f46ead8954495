"""Batch ranges at run time: the ``min:opt:max`` an engine's profile allows, and how a batch is split to fit.

The exported models have one dynamic dimension, the batch (dim 0). The loader reads an engine's profile
into a ``BatchRange`` (``LoadedEngine.limits``), sizes its buffers from the max, and the backend runs any
batch in chunks that fit it (``split_batch``). Planning the profiles of a build is ``edgefashion.engine.profiles``.
"""
from __future__ import annotations

from dataclasses import dataclass

from edgefashion.errors import BadInput

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


def is_dynamic(dim) -> bool:
    """A dimension that TensorRT / ONNX leaves open: -1, None, or a symbolic name such as 'batch'."""
    return dim is None or isinstance(dim, str) or (isinstance(dim, int) and dim < 0)


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
