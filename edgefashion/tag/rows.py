"""The rows ``edgefashion tag`` writes: one per image, the same Arrow schema for every engine.

    path             string                       the image, as the source named it (local: absolute)
    category         string                       top-1 label (null on error)
    score            float32                      its probability
    top_k            list<struct<label, score>>   the k best categories, best first
    attributes       list<string>                 the predicted attribute labels, group order
    attribute_scores list<struct<label, score>>   every attribute's sigmoid score
    embedding        list<float32>                the retrieval embedding (null when the model has none)
    error            string                       null when fine; "ImageDecodeError: ..." otherwise

Needs pyarrow (``pip install "edgefashion[ray]"`` brings it); importing this module does not.
"""
from __future__ import annotations

from typing import Any, Sequence

from edgefashion.errors import BackendUnavailable

COLUMNS = ("path", "category", "score", "top_k", "attributes", "attribute_scores", "embedding",
           "error")


def pyarrow():
    """The pyarrow module, or BackendUnavailable saying how to install it."""
    try:
        import pyarrow as pa
    except ImportError as e:
        raise BackendUnavailable('tagging writes Parquet and needs pyarrow: pip install '
                                 '"edgefashion[ray]" (or pip install pyarrow)') from e
    return pa


def schema():
    """The Arrow schema of every part file (a function: pyarrow is imported lazily)."""
    pa = pyarrow()
    scored = pa.list_(pa.struct([("label", pa.string()), ("score", pa.float32())]))
    return pa.schema([
        ("path", pa.string()), ("category", pa.string()), ("score", pa.float32()),
        ("top_k", scored), ("attributes", pa.list_(pa.string())), ("attribute_scores", scored),
        ("embedding", pa.list_(pa.float32())), ("error", pa.string()),
    ])


def prediction_row(path: str, pred: Any, top_k: int) -> dict:
    """A Prediction (runtime/prediction.py) -> one row dict."""
    if pred.error is not None:
        return error_row(path, pred.error)
    cat = pred.category
    emb = None if pred.embedding is None else [float(v) for v in pred.embedding]
    return {
        "path": path, "category": cat.label, "score": float(cat.score),
        "top_k": [{"label": n, "score": float(p)} for n, p in cat.top(top_k)],
        "attributes": list(pred.labels),
        "attribute_scores": [{"label": n, "score": float(s)} for n, s in pred.scores.items()],
        "embedding": emb, "error": None,
    }


def error_row(path: str, error: BaseException | str) -> dict:
    """The row of an image that could not be read or decoded."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"path": path, "category": None, "score": None, "top_k": None, "attributes": None,
            "attribute_scores": None, "embedding": None, "error": text}


def to_table(rows: Sequence[dict]):
    """Row dicts -> a pyarrow.Table with ``schema()``."""
    pa = pyarrow()
    s = schema()
    return pa.Table.from_pydict({c: [r[c] for r in rows] for c in COLUMNS}, schema=s)


def paths_table(paths: Sequence[str]):
    """The input of a tag worker: a one-column table of paths."""
    pa = pyarrow()
    return pa.table({"path": pa.array(list(paths), pa.string())})
