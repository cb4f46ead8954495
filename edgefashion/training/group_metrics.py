"""Attribute metrics that tell the truth (numpy only).

- Exclusive groups: the group's answer is its highest-scoring value; top-1 accuracy and macro-F1
  over the rows whose group label is known, beside the majority share (the accuracy of always
  answering the most common value of those rows).
- Multi-label groups: per-attribute average precision (rows with a known label), mAP per group
  and overall, F1 at the schema's (tuned) thresholds; ``tune_thresholds`` picks each attribute's
  F1-optimal threshold on validation scores.
- ``selection_score``: what best.pt is chosen on: the mean of category top-1 (when there are
  categories), the exclusive groups' mean top-1 and the multi-label mAP, over those present.
"""
from __future__ import annotations

import math

import numpy as np


def one_known_value(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """labels: (N, K) of one exclusive group (1 / -1 / 0) -> (keep (N,) bool: rows with exactly one
    +1, as the group's loss counts them; truth (n,) the index of that +1 on those rows)."""
    pos = np.asarray(labels) == 1
    keep = pos.sum(1) == 1
    return keep, pos[keep].argmax(1)


def exclusive_group_metrics(logits: np.ndarray, labels: np.ndarray) -> dict | None:
    """logits, labels: (N, K) of one exclusive group (labels 1 / -1 / 0) -> metrics, or None
    when no row has exactly one positive value."""
    keep, truth = one_known_value(labels)
    if not keep.any():
        return None
    pred = logits[keep].argmax(1)
    counts = np.bincount(truth, minlength=labels.shape[1])
    return {"top1": float(np.mean(pred == truth)), "macro_f1": macro_f1(pred, truth, labels.shape[1]),
            "majority_share": float(counts.max() / counts.sum()), "num_images": int(keep.sum())}


def macro_f1(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> float:
    """Mean F1 over the classes that occur in the truth or the predictions."""
    f1s = []
    for c in range(num_classes):
        tp = np.sum((pred == c) & (truth == c))
        n_pred, n_true = np.sum(pred == c), np.sum(truth == c)
        if n_pred + n_true:
            f1s.append(2.0 * tp / (n_pred + n_true))
    return float(np.mean(f1s)) if f1s else float("nan")


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """AP of one attribute: the mean of the precision at each positive's rank (ties broken by
    order); NaN without positives."""
    n_pos = int(positive.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = positive[order].astype(np.float64)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / n_pos)


def multilabel_metrics(scores: np.ndarray, labels: np.ndarray, thresholds: np.ndarray,
                       names: list[str]) -> dict:
    """scores: (N, A) sigmoid scores of one multi-label group; labels (N, A) 1 / -1 / 0."""
    ap, f1 = {}, {}
    for j, name in enumerate(names):
        known = labels[:, j] != 0
        if not known.any():
            continue
        s, y = scores[known, j], labels[known, j] == 1
        ap[name] = average_precision(s, y)
        f1[name] = _f1(s >= thresholds[j], y)
    return {"ap": ap, "map": _nanmean(list(ap.values())), "f1": f1,
            "mean_f1": _nanmean(list(f1.values()))}


def group_report(attribute_logits: np.ndarray, attributes: np.ndarray, schema) -> dict:
    """{"groups": {group: metrics}, "group_top1_mean", "group_majority_mean", "attribute_map"}."""
    from edgefashion.runtime.postprocess import attribute_scores

    scores = attribute_scores(attribute_logits, schema)
    exclusive, multi, out = set(schema.exclusive_groups), {}, {}
    for g, idx in schema.group_indices().items():
        if not idx:
            continue
        if g in exclusive:
            if len(idx) < 2:  # one value: always right, it would only inflate the mean
                continue
            m = exclusive_group_metrics(attribute_logits[:, idx], attributes[:, idx])
            if m is not None:
                out[g] = {"kind": "exclusive", **m}
        else:
            multi[g] = multilabel_metrics(scores[:, idx], attributes[:, idx],
                                          schema.thresholds()[idx],
                                          [schema.attribute_names[i] for i in idx])
            out[g] = {"kind": "multi-label", **multi[g]}
    rep: dict = {"groups": out}
    excl = [m for m in out.values() if m["kind"] == "exclusive"]
    if excl:
        rep["group_top1_mean"] = float(np.mean([m["top1"] for m in excl]))
        rep["group_macro_f1_mean"] = float(np.mean([m["macro_f1"] for m in excl]))
        rep["group_majority_mean"] = float(np.mean([m["majority_share"] for m in excl]))
    if multi:
        rep["attribute_map"] = _nanmean([v for m in multi.values() for v in m["ap"].values()])
    return rep


def selection_score(report: dict, num_categories: int) -> float:
    """The mean of category top-1 (with > 1 category), group top-1 and multi-label mAP."""
    parts = [report.get("category_top1")] if num_categories > 1 else []
    parts += [report.get("group_top1_mean"), report.get("attribute_map")]
    parts = [float(p) for p in parts if p is not None and not math.isnan(float(p))]
    return float(np.mean(parts)) if parts else float("nan")


def tune_thresholds(scores: np.ndarray, labels: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Per attribute, the F1-optimal threshold on these scores (midway between the two scores
    it separates); attributes without a known positive keep ``current``."""
    out = np.asarray(current, np.float32).copy()
    for j in range(scores.shape[1]):
        known = labels[:, j] != 0
        y = labels[known, j] == 1
        if not y.any():
            continue
        out[j] = _best_cut(scores[known, j], y)
    return out


def _best_cut(s: np.ndarray, y: np.ndarray) -> float:
    """The F1-optimal threshold in O(N log N): sort once, F1 after each run of tied scores."""
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    last = np.r_[np.nonzero(s[1:] != s[:-1])[0], len(s) - 1]  # the end of each tied run
    f1 = 2.0 * tp[last] / (last + 1 + y.sum())
    k = last[int(np.argmax(f1))]
    below = s[k + 1] if k + 1 < len(s) else s[k] / 2  # midway to the next lower score
    return float(np.clip((s[k] + below) / 2, 0.01, 0.99))


def _f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum(pred & truth))
    denom = float(pred.sum() + truth.sum())
    return 2.0 * tp / denom if denom else float("nan")


def _nanmean(values) -> float:
    a = np.asarray([v for v in values if not math.isnan(v)], np.float64)
    return float(a.mean()) if a.size else float("nan")
