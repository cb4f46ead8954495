"""Optimization profiles from --batch, and the batch splitting the backend does."""
from __future__ import annotations

import pytest

from edgefashion.engine.plan import onnx_input_shapes
from edgefashion.engine.profiles import (DEFAULT_BATCH, ProfileShapes, batch_range_of, default_batch, needs_profile,
                                         plan_profile, profiles_from_dict, profiles_to_dict)
from edgefashion.errors import BadInput, ShapeError
from edgefashion.runtime.tensorrt.profiles import BatchRange, split_batch


@pytest.mark.parametrize("text, expected", [
    ("1:8:32", (1, 8, 32)), ("8", (8, 8, 8)), ("1:32", (1, 32, 32)), (" 2:4:4 ", (2, 4, 4)), (4, (4, 4, 4)),
])
def test_batch_range_parse(text, expected):
    b = BatchRange.parse(text)
    assert (b.min, b.opt, b.max) == expected
    assert BatchRange.parse(str(b)) == b  # str() round-trips (it is what the sidecar records)


@pytest.mark.parametrize("text, match", [
    ("8:1:32", "min <= opt <= max"), ("1:8:4", "min <= opt <= max"), ("0:1:2", "min=0"),
    ("a:b", "whole numbers"), ("1:2:3:4", "4 parts"), ("1:8:100000", "larger than 4096"), ("", "whole numbers"),
    ("-1", "min=-1"),
])
def test_batch_range_errors_are_typed_and_say_what_to_do(text, match):
    with pytest.raises(BadInput, match=match):
        BatchRange.parse(text)


def test_plan_profile_dynamic_batch():
    p = plan_profile({"image": (-1, 3, 224, 224), "known": ("batch", 26)}, "1:8:32")
    assert p["image"] == ProfileShapes((1, 3, 224, 224), (8, 3, 224, 224), (32, 3, 224, 224))
    assert p["known"].max == (32, 26)
    assert batch_range_of(p) == BatchRange(1, 8, 32)
    assert profiles_from_dict(profiles_to_dict(p)) == p


def test_plan_profile_static_batch_needs_that_batch():
    assert plan_profile({"image": (4, 3, 64, 64)}, "4")["image"].opt == (4, 3, 64, 64)
    with pytest.raises(ShapeError, match="static batch of 4.*--batch 4"):
        plan_profile({"image": (4, 3, 64, 64)}, "1:8:32")


def test_plan_profile_refuses_other_dynamic_dims_and_scalars():
    with pytest.raises(ShapeError, match="dynamic dimension 2.*only the batch"):
        plan_profile({"image": (-1, 3, None, 224)}, "1:8:32")
    with pytest.raises(ShapeError, match="scalar"):
        plan_profile({"x": ()}, "1")
    with pytest.raises(ShapeError, match="no inputs"):
        plan_profile({}, "1")


def test_default_batch_and_needs_profile():
    assert default_batch({"image": (-1, 3, 64, 64)}) == DEFAULT_BATCH == BatchRange(1, 8, 32)
    assert default_batch({"image": (2, 3, 64, 64)}) == BatchRange(2, 2, 2)
    assert needs_profile({"image": (-1, 3, 64, 64)}) and not needs_profile({"image": (2, 3, 64, 64)})


@pytest.mark.parametrize("n, limits, expected", [
    (0, BatchRange(1, 8, 32), []),
    (5, BatchRange(1, 8, 32), [(0, 5, 5)]),
    (70, BatchRange(1, 8, 32), [(0, 32, 32), (32, 64, 32), (64, 70, 6)]),
    (3, BatchRange(4, 8, 8), [(0, 3, 4)]),          # padded up to the profile's min
    (9, BatchRange(4, 4, 4), [(0, 4, 4), (4, 8, 4), (8, 9, 4)]),
])
def test_split_batch(n, limits, expected):
    chunks = split_batch(n, limits)
    assert chunks == expected
    assert sum(stop - start for start, stop, _ in chunks) == n
    assert all(limits.min <= run <= limits.max for _, _, run in chunks)


def test_profile_of_a_real_exported_model(tiny_onnx):
    shapes = onnx_input_shapes(tiny_onnx)
    assert shapes == {"image": (-1, 3, 64, 64)}
    p = plan_profile(shapes, default_batch(shapes))
    assert (p["image"].min, p["image"].max) == ((1, 3, 64, 64), (32, 3, 64, 64))
