"""Retrieval: embed a folder of images into an index, search it (cosine, attribute-specific), mAP.

numpy only (the Predictor runs the model), so it works wherever the runtime does.
"""
from __future__ import annotations

from edgefashion.retrieval.index import RetrievalIndex, build_index, condition_states
from edgefashion.retrieval.search import (Hit, average_precision, cosine_topk, evaluate_index,
                                          mean_average_precision, search_image)

__all__ = ["Hit", "RetrievalIndex", "average_precision", "build_index", "condition_states",
           "cosine_topk", "evaluate_index", "mean_average_precision", "search_image"]
