"""Catalog tagging: every image of a folder / list / table -> one Parquet row each, resumable.

    edgefashion tag photos/ -o tags.parquet --model model.onnx                  # local threads
    edgefashion tag s3://shop/photos.parquet -o tags.parquet --model m.onnx \\
        --runner ray --address auto --actors 8 --gpus-per-actor 1              # a Ray cluster

    from edgefashion.tag import tag_images, read_output
    summary = tag_images("photos/", "tags.parquet", "model.onnx", engine="ray", workers=2)
    table = read_output("tags.parquet")                                         # pyarrow.Table

Modules: sources (SOURCE -> paths), rows (the Arrow schema), worker (TagWorker: one Predictor),
local_engine, ray_engine (Ray Data map_batches), resume (the output folder), tagger (tag_images).
Importing this package needs neither Ray nor pyarrow; the engines import them when they run.
"""
from __future__ import annotations

from typing import Any

from edgefashion.tag.options import TagOptions, TagSummary
from edgefashion.tag.rows import COLUMNS

__all__ = ["TagOptions", "TagSummary", "tag_images", "read_output", "COLUMNS"]


def tag_images(*args: Any, **kwargs: Any) -> TagSummary:
    """See edgefashion.tag.tagger.tag_images."""
    from edgefashion.tag.tagger import tag_images as _tag

    return _tag(*args, **kwargs)


def read_output(path: Any):
    """See edgefashion.tag.resume.read_output."""
    from edgefashion.tag.resume import read_output as _read

    return _read(path)
