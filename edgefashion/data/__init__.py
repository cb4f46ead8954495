"""The data stage: dataset readers, the synthetic generator and the PyTorch dataset.

Readers return ``(LabelSchema, list[Sample])`` and import no torch; ``GarmentDataset`` and
``make_loader`` (edgefashion.data.dataset) import torch when first used.
"""
from __future__ import annotations

from edgefashion.data.deepfashion import read_deepfashion
from edgefashion.data.fashion_product import read_fashion_product
from edgefashion.data.fine_attr import read_fine_attr
from edgefashion.data.folders import read_folders
from edgefashion.data.imagelist import read_image_list
from edgefashion.data.sample import LANDMARK_NAMES, SPLITS, Sample, attribute_matrix
from edgefashion.data.synthetic import generate_synthetic, synthetic_schema

__all__ = [
    "GarmentDataset", "LANDMARK_NAMES", "attribute_matrix", "SPLITS", "Sample", "generate_synthetic", "make_loader",
    "read_deepfashion", "read_fashion_product", "read_fine_attr", "read_folders", "read_image_list", "synthetic_schema",
]


def __getattr__(name: str):
    if name in ("GarmentDataset", "make_loader"):
        from edgefashion.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'edgefashion.data' has no attribute {name!r}")
