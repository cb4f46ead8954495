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
                      groups: Mapping[str, Sequence[int]] | None = None, schema=None) -> dict:
    """All metrics as one JSON-able dict; with the schema the per-group metrics
    (training.group_metrics) too. ``attribute_scores`` here are the raw attribute logits."""
    rep = {"num_images": int(len(categories))}
    for k in (1, 3, 5):
        rep[f"category_top{k}"] = topk_accuracy(category_logits, categories, k)
    if attribute_scores.size:
        ranked = attribute_scores
        if schema is not None:
            from edgefashion.runtime.postprocess import attribute_scores as scores_of
            from edgefashion.training.group_metrics import group_report

            rep.update(group_report(attribute_scores, attributes, schema))
            ranked = scores_of(attribute_scores, schema)  # softmax groups ranked by probability
        for k in (3, 5):
            rep[f"attribute_top{k}_recall"] = attribute_topk_recall(ranked, attributes, k, groups)
    return rep


def average_jaccard(predicted: np.ndarray, labels: np.ndarray,
                    groups: Mapping[str, Sequence[int]] | None = None) -> dict[str, float]:
    """Sample-level average (Jaccard) accuracy (multi-task transformer paper, eq. 2).

    predicted: (N, A) bool post-processed labels; labels: (N, A) 1 / -1 / 0 (0 = unknown).
    Per image, over its known labels: |Y & Y_hat| / |Y | Y_hat| (1 when both are empty), averaged
    over the images with any known label; per group the same within the group's attributes (for
    a mutually exclusive group this is plain accuracy). NaN where no image has a known label.
    """
    def score(p: np.ndarray, lab: np.ndarray) -> float:
        known = lab != 0
        y, y_hat = lab == 1, p & known
        union = (y | y_hat).sum(1)
        per = np.where(union > 0, (y & y_hat).sum(1) / np.maximum(union, 1), 1.0)
        keep = known.any(1)
        return float(per[keep].mean()) if keep.any() else float("nan")

    predicted, labels = np.asarray(predicted, bool), np.asarray(labels)
    out = {"overall": score(predicted, labels)}
    for name, members in (groups or {}).items():
        out[name] = score(predicted[:, list(members)], labels[:, list(members)])
    return out


def multitask_report(outs: Mapping[str, np.ndarray], schema, max_retrieval: int = 5000) -> dict:
    """Model-zoo extras: Jaccard accuracy of the post-processed attributes when the schema has
    exclusive groups; leave-one-out category mAP of the embedding (<= max_retrieval images)."""
    rep: dict = {}
    logits = np.asarray(outs["attribute_logits"])
    if schema.exclusive_groups and logits.size:
        from edgefashion.runtime.postprocess import (attribute_scores, exclusive_indices,
                                                     select_attributes)

        pred = select_attributes(attribute_scores(logits, schema), schema.thresholds(),
                                 np.asarray(outs["category_logits"]).argmax(1),
                                 schema.applicability_mask() if schema.applicability else None,
                                 exclusive_indices(schema), schema.softmax_indices())
        groups = {g: idx for g, idx in schema.group_indices().items() if idx}
        jac = average_jaccard(pred, outs["attributes"], groups)
        rep["jaccard_accuracy"] = jac.pop("overall")
        rep["jaccard_accuracy_groups"] = jac
    emb = outs.get("embedding")
    if emb is not None and 1 < len(emb) <= max_retrieval:
        from edgefashion.retrieval.search import mean_average_precision

        cats = np.asarray(outs["categories"])
        rep["retrieval_map_category"] = mean_average_precision(
            emb, cats[:, None] == np.arange(schema.num_categories)[None, :])[0]
    return rep
