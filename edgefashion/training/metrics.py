"""The papers' metrics (numpy only): category top-k accuracy, attribute top-k recall per type."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the k highest logits (rows with label -1 skipped)."""
    keep = labels >= 0
    if not keep.any():
        return float("nan")
    logits, labels = logits[keep], labels[keep]
    k = min(k, logits.shape[1])
    topk = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float(np.mean((topk == labels[:, None]).any(1)))


def attribute_topk_recall(scores: np.ndarray, labels: np.ndarray, k: int,
                          groups: Mapping[str, Sequence[int]] | None = None) -> dict[str, float]:
    """DeepFashion's top-k recall: rank all attributes per image, keep the top k;
    recall of an attribute = (images where it is positive and in the top k) / (images where positive).
    Overall and per type = mean over the attributes that have at least one positive.
    """
    out: dict[str, float] = {}
    if scores.size == 0:
        return out
    k = min(k, scores.shape[1])
    top = np.zeros_like(scores, dtype=bool)
    idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    np.put_along_axis(top, idx, True, axis=1)
    pos = labels == 1
    n_pos = pos.sum(0)
    per_attr = np.where(n_pos > 0, (top & pos).sum(0) / np.maximum(n_pos, 1), np.nan)
    out["overall"] = _nanmean(per_attr)
    for name, members in (groups or {}).items():
        out[name] = _nanmean(per_attr[list(members)])
    return out


def _nanmean(a: np.ndarray) -> float:
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else float("nan")


def evaluation_report(category_logits: np.ndarray, categories: np.ndarray,
                      attribute_scores: np.ndarray, attributes: np.ndarray,
                      groups: Mapping[str, Sequence[int]] | None = None) -> dict:
    """All metrics as one JSON-able dict."""
    rep = {"num_images": int(len(categories))}
    for k in (1, 3, 5):
        rep[f"category_top{k}"] = topk_accuracy(category_logits, categories, k)
    if attribute_scores.size:
        for k in (3, 5):
            rep[f"attribute_top{k}_recall"] = attribute_topk_recall(attribute_scores, attributes, k, groups)
    return rep
