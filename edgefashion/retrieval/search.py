"""Cosine top-k search over a RetrievalIndex and the papers' retrieval metric (mAP). numpy only.

    hits = search_image(predictor, index, "query.jpg", k=10, condition="floral")
    report = evaluate_index(index, condition="texture")    # {"map": ..., "queries": ...}

mAP as in M2Fashion / ASEN (attribute-specific retrieval): every indexed image is a query against
all the others; AP = mean of precision@r over the ranks r of the relevant images; relevance =
the same category (no condition), both having the attribute (an attribute condition), or the same
value in the group (a group condition). Labels are the true ones where known, else predicted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgefashion.errors import BadInput
from edgefashion.retrieval.index import PLAIN, RetrievalIndex, check_condition, condition_states


@dataclass
class Hit:
    rank: int
    index: int
    path: str
    score: float
    labels: dict

    def to_dict(self) -> dict:
        return {"rank": self.rank, "path": self.path, "score": self.score, **self.labels}


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def cosine_topk(query: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """query (D,) or (Q, D), gallery (N, D) -> (indices, scores), each (Q, min(k, N)), best first."""
    if int(k) < 1:
        raise BadInput(f"k={k} must be at least 1")
    q = normalise(np.atleast_2d(query))
    g = normalise(gallery)
    if q.shape[1] != g.shape[1]:
        raise BadInput(f"query embedding has {q.shape[1]} dimensions, the index {g.shape[1]}; "
                       "search with the model the index was built with")
    sims = q @ g.T
    k = min(int(k), g.shape[0])
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(sims, idx, axis=1)


def gallery_embeddings(index: RetrievalIndex, condition: str | None) -> np.ndarray:
    key = condition or PLAIN
    if key not in index.embeddings:
        raise BadInput(f"the index has no embeddings for {condition!r} (it has: "
                       f"{index.conditions or 'none'}); rebuild it with `edgefashion index DIR -o "
                       f"INDEX --model MODEL --attribute {condition}`")
    return index.embeddings[key]


def search_image(predictor, index: RetrievalIndex, image, k: int = 10,
                 condition: str | None = None) -> list[Hit]:
    """Embed ``image`` (conditioned like the index's ``condition`` embeddings) and rank the index."""
    gallery = gallery_embeddings(index, condition)
    known = None
    if condition:
        check_condition(predictor.schema, condition)
        first = predictor(image)  # a group condition uses the query's own (predicted) value
        names = predictor.schema.attribute_names
        scores = np.asarray([[first.scores[n] for n in names]], np.float32)
        present = np.asarray([[n in first.labels for n in names]])
        known = condition_states(predictor.schema, condition, present, scores)[0]
    pred = predictor(image, known=known)
    if pred.embedding is None:
        raise BadInput(f"model {predictor.path.name!r} gives no embedding; search with the model "
                       "the index was built with")
    idx, scores = cosine_topk(pred.embedding, gallery, k)
    return [Hit(r + 1, int(i), index.paths[i], float(s), index.describe(int(i)))
            for r, (i, s) in enumerate(zip(idx[0], scores[0]))]


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """AP of one ranking: scores (N,), relevant (N,) bool; NaN when nothing is relevant."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    rel = np.asarray(relevant, bool)[order]
    if not rel.any():
        return float("nan")
    hits = np.cumsum(rel)
    return float(np.mean(hits[rel] / (np.nonzero(rel)[0] + 1)))


def mean_average_precision(embeddings: np.ndarray, labels: np.ndarray,
                           queries: np.ndarray | None = None, chunk: int = 256) -> tuple[float, int]:
    """Leave-one-out mAP: each query image ranks all the others by cosine similarity.

    labels: (N, M) bool; images i and j are relevant to each other when they share a label
    (a one-hot category, an attribute, a group value). queries: (N,) bool of the images used as
    queries (default all). Queries with no relevant image are skipped. -> (mAP, #queries).
    """
    emb = normalise(embeddings)
    lab = np.asarray(labels, bool).reshape(len(emb), -1).astype(np.float32)
    n = len(emb)
    qs = np.nonzero(np.ones(n, bool) if queries is None else queries)[0]
    aps: list[float] = []
    for start in range(0, len(qs), chunk):
        q = qs[start:start + chunk]
        rows = np.arange(len(q))
        sims = emb[q] @ emb.T
        sims[rows, q] = -np.inf                      # never retrieve the query itself
        rel = (lab[q] @ lab.T) > 0
        rel[rows, q] = False
        ranked = np.take_along_axis(rel, np.argsort(-sims, axis=1, kind="stable"), axis=1)
        total = ranked.sum(1)
        prec = np.cumsum(ranked, axis=1) / np.arange(1, n + 1)[None, :]
        ok = total > 0
        aps.extend(((prec * ranked).sum(1)[ok] / total[ok]).tolist())
    return (float(np.mean(aps)) if aps else float("nan")), len(aps)


def evaluate_index(index: RetrievalIndex, condition: str | None = None, baseline: bool = False) -> dict:
    """mAP over the index (see the module docstring); labels true where known, else predicted.

    baseline: rank with the plain embedding but judge relevance by ``condition`` (the paper's
    "Triplet" row: what the attribute-specific embedding is compared with).
    """
    emb = gallery_embeddings(index, None if baseline else condition)
    present = index.attribute_labels()
    if condition is None:
        cats = index.category_labels()
        labels = (cats[:, None] == np.arange(index.schema.num_categories)[None, :])
        queries, what = None, "same category"
    elif check_condition(index.schema, condition) == "attribute":
        labels = present[:, [index.schema.attribute_names.index(condition)]]
        queries, what = labels[:, 0], f"both have {condition!r}"
    else:
        labels = present[:, index.schema.group_indices()[condition]]
        queries, what = labels.any(1), f"same {condition!r} value"
    m, nq = mean_average_precision(emb, labels, queries)
    known = int((index.categories >= 0).sum()) if condition is None else int(
        (index.attributes != 0).any(1).sum())
    return {"map": m, "queries": nq, "images": len(index), "condition": condition,
            "embedding": "plain" if baseline or not condition else condition,
            "relevance": what, "images_with_true_labels": known}
