"""Post-processing of raw model outputs (numpy only), vectorised over the batch.

Semantics (DESIGN.md): category = softmax, top-k. Attributes = sigmoid; a label is predicted when
its score >= its threshold; attributes not applicable to the predicted (top-1) category are dropped;
then in each mutually exclusive group at most one label survives, the highest-scoring one.
Applicability is applied before exclusivity, so the best *applicable* label of a group wins.
Groups the model was trained on as one softmax (``schema.softmax_groups``) score as a softmax over
the group and always answer their best applicable value (no threshold): a group answer.
The schema's temperatures divide the category logits and each softmax group's logits before their
softmax (calibrated scores; the order, hence every answer, is unchanged).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence, Union

import numpy as np

from edgefashion.errors import BadInput, SchemaError

CATEGORY_OUTPUT = "category_logits"
ATTRIBUTE_OUTPUT = "attribute_logits"
Threshold = Union[None, float, Sequence[float], np.ndarray, Mapping[str, float]]


@dataclass
class Postprocessed:
    """Batch results. N images, C categories, A attributes, k = min(top_k, C)."""

    category_probs: np.ndarray    # (N, C) float32
    top_indices: np.ndarray       # (N, k) int64, best first
    top_probs: np.ndarray         # (N, k) float32
    attribute_scores: np.ndarray  # (N, A) float32 scores (sigmoid; softmax within softmax groups)
    attribute_labels: np.ndarray  # (N, A) bool predicted labels


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (float32 out)."""
    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function (float32 out), no overflow for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)


def topk(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """probs (N, C) -> (indices, values), each (N, min(k, C)), best first; ties keep index order."""
    if int(k) < 1:
        raise BadInput(f"top_k={k} must be at least 1")
    k = min(int(k), probs.shape[1])
    idx = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(probs, idx, axis=1)


def resolve_thresholds(schema, threshold: Threshold = None) -> np.ndarray:
    """(A,) float32 thresholds: the schema's, or a global value, per-attribute values or a mapping."""
    if threshold is None:
        return schema.thresholds()
    if isinstance(threshold, Mapping):
        return schema.with_thresholds(threshold).thresholds()
    arr = np.asarray(threshold, dtype=np.float32)
    if arr.ndim == 0:
        arr = np.full(schema.num_attributes, float(arr), np.float32)
    if arr.shape != (schema.num_attributes,):
        raise BadInput(f"threshold has shape {arr.shape}; give one number, or one per attribute "
                       f"({schema.num_attributes}), or a mapping name -> value")
    if arr.size and not (np.all(arr > 0) and np.all(arr < 1)):
        raise BadInput(f"thresholds must lie in (0, 1); got {threshold}")
    return arr


def group_value(attribute: str, group: str) -> str:
    """An attribute's value within its group: "baseColour=Blue" -> "Blue" (other names as they are)."""
    prefix = f"{group}="
    return attribute[len(prefix):] if attribute.startswith(prefix) else attribute


def group_answers(schema, scores: np.ndarray, top1: int,
                  applicable: np.ndarray | None = None) -> dict[str, tuple[str, float]]:
    """Each exclusive group's best applicable value ("group=" prefix dropped) and its score, for
    one image: scores (A,); groups with fewer than two values answer nothing."""
    names, out = schema.attribute_names, {}
    members = schema.group_indices()
    for group in schema.exclusive_groups:
        idx = [a for a in members.get(group, ()) if applicable is None or applicable[top1, a]]
        if len(members.get(group, ())) >= 2 and idx:
            best = max(idx, key=lambda a: scores[a])
            out[group] = (group_value(names[best], group), float(scores[best]))
    return out


def exclusive_indices(schema) -> list[np.ndarray]:
    """Attribute indices of each mutually exclusive group."""
    groups = schema.group_indices()
    return [np.asarray(groups[g], dtype=np.int64) for g in schema.exclusive_groups if groups[g]]


def attribute_scores(logits: np.ndarray, schema) -> np.ndarray:
    """(N, A) scores: the sigmoid of each logit; a softmax over each softmax group's logits
    divided by the group's temperature."""
    scores = sigmoid(logits)
    for idx, t in zip(schema.softmax_indices(), schema.softmax_temperatures()):
        scores[:, idx] = softmax(np.asarray(logits)[:, idx] / np.float32(t), axis=1)
    return scores


def category_probs(logits: np.ndarray, schema) -> np.ndarray:
    """(N, C) the softmax of the category logits divided by the schema's category temperature."""
    return softmax(np.asarray(logits) / np.float32(schema.category_temperature), axis=1)


def select_attributes(scores: np.ndarray, thresholds: np.ndarray, top1: np.ndarray | None = None,
                      applicability: np.ndarray | None = None,
                      exclusive: Sequence[np.ndarray] = (),
                      answered: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """Predicted attribute labels (N, A) bool.

    scores: (N, A) scores; thresholds: (A,); top1: (N,) predicted category per image;
    applicability: (C, A) bool; exclusive: index arrays of the mutually exclusive groups;
    answered: index lists of the (softmax) groups that answer their best value whatever its score.
    """
    labels = scores >= thresholds[None, :]
    for idx in answered:
        labels[:, idx] = True
    if applicability is not None and top1 is not None:
        labels &= applicability[top1]
    for idx in exclusive:
        sub = np.where(labels[:, idx], scores[:, idx], -np.inf)
        best = np.argmax(sub, axis=1)
        keep = np.isfinite(sub[np.arange(len(sub)), best])
        labels[:, idx] = False
        labels[np.nonzero(keep)[0], idx[best[keep]]] = True
    return labels


def check_outputs(outputs: Mapping[str, np.ndarray], schema) -> tuple[np.ndarray, np.ndarray]:
    """(category_logits (N, C), attribute_logits (N, A)) from raw outputs, checked against schema."""
    if CATEGORY_OUTPUT not in outputs:
        raise SchemaError(f"the model outputs {sorted(outputs)} have no {CATEGORY_OUTPUT!r}; "
                          "is this an edgefashion model?")
    cat = np.asarray(outputs[CATEGORY_OUTPUT], dtype=np.float32)
    n = cat.shape[0]
    attr = outputs.get(ATTRIBUTE_OUTPUT)
    attr = np.zeros((n, 0), np.float32) if attr is None else np.asarray(attr, dtype=np.float32)
    if cat.ndim != 2 or attr.ndim != 2 or attr.shape[0] != n:
        raise SchemaError(f"model outputs have shapes {cat.shape} / {attr.shape}; expected "
                          f"(N, C) category and (N, A) attribute logits")
    schema.check_outputs(cat.shape[1], attr.shape[1])
    return cat, attr


def postprocess(outputs: Mapping[str, np.ndarray], schema, top_k: int = 5,
                threshold: Threshold = None) -> Postprocessed:
    """Raw outputs {"category_logits": (N, C), "attribute_logits": (N, A), ...} -> Postprocessed."""
    cat_logits, attr_logits = check_outputs(outputs, schema)
    probs = category_probs(cat_logits, schema)
    idx, vals = topk(probs, top_k)
    scores = attribute_scores(attr_logits, schema)
    labels = select_attributes(
        scores, resolve_thresholds(schema, threshold), idx[:, 0],
        schema.applicability_mask() if schema.applicability else None, exclusive_indices(schema),
        schema.softmax_indices(),
    )
    return Postprocessed(probs, idx, vals, scores, labels)
