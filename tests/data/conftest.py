"""Data-stage fixtures: a small synthetic DeepFashion-C set and hand-written tiny annotation files."""
from __future__ import annotations

from pathlib import Path

import pytest

from data_helpers import SYNTH_PER_CATEGORY, TINY, write_tree

from edgefashion.data import generate_synthetic


@pytest.fixture
def tiny(tmp_path) -> Path:
    """Root of the hand-written tiny DeepFashion-C set (annotations only, no images)."""
    return write_tree(tmp_path / "tiny", TINY)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A synthetic DeepFashion-C set: 7 categories x 10 images of 96 px (about 0.3 s)."""
    return generate_synthetic(tmp_path_factory.mktemp("synth") / "ds",
                              images_per_category=SYNTH_PER_CATEGORY, image_size=96, seed=3)


@pytest.fixture(scope="session")
def fine_attr_root(deepfashion_meta) -> Path:
    p = deepfashion_meta.parent / "deepfashion-fine-attr"
    if not p.is_dir():
        pytest.skip(f"real data {p} not found; set EDGEFASHION_DATA to the shared data folder")
    return p
