"""The Prediction returned by ``Predictor`` for one image."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


@dataclass
class CategoryResult:
    """The predicted category: ``label`` / ``score`` (top-1), ``top(k)``, full ``probs`` (C,)."""

    label: str
    score: float
    index: int
    ranked: list[tuple[str, float]]     # the top-k asked for, best first
    names: Sequence[str] = ()          # all category names (empty after from_dict)
    probs: np.ndarray | None = None     # (C,) softmax probabilities (None after from_dict)

    def top(self, k: int | None = None) -> list[tuple[str, float]]:
        """[(name, probability)] best first; any k when the full probabilities are known."""
        if k is None:
            return list(self.ranked)
        if self.probs is not None and k > len(self.ranked):
            order = np.argsort(-self.probs, kind="stable")[:k]
            return [(self.names[i], float(self.probs[i])) for i in order]
        return list(self.ranked[:k])

    def to_dict(self) -> dict:
        return {"label": self.label, "score": self.score, "index": self.index,
                "top": [[n, p] for n, p in self.ranked]}

    @classmethod
    def from_dict(cls, d: dict) -> "CategoryResult":
        return cls(d["label"], float(d["score"]), int(d["index"]),
                   [(str(n), float(p)) for n, p in d["top"]])

    def __repr__(self) -> str:
        return f"CategoryResult({self.label!r}, {self.score:.3f})"


@dataclass
class Prediction:
    """What the model says about one image.

    ``attributes``: group -> predicted attribute names (highest score first); ``groups``: each
    mutually exclusive group's answer, (value, score), its best applicable value (a softmax score
    for groups trained as one softmax); ``scores``: every attribute's score; ``gates``: gate / attention maps
    name -> (h, w) float32 in [0, 1]
    over the model input; ``landmarks``: name -> (x, y, confidence), x / y in image pixels;
    ``embedding``: the retrieval embedding (D,), L2-normalised; ``error``: the exception when
    this image could not be read (then ``category`` is None); ``timings``: milliseconds per stage,
    this image's share of its batch.
    """

    source: str
    category: CategoryResult | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, tuple[str, float]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    gates: dict[str, np.ndarray] = field(default_factory=dict)
    landmarks: dict[str, tuple[float, float, float]] | None = None  # name -> (x, y, confidence)
    embedding: np.ndarray | None = None
    bbox: tuple[float, float, float, float] | None = None
    error: Exception | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def attribute_scores(self) -> dict[str, float]:
        return self.scores

    @property
    def labels(self) -> list[str]:
        """All predicted attribute names, flat, in group order."""
        return [n for names in self.attributes.values() for n in names]

    def to_dict(self, gates: bool = False, scores: bool = True) -> dict[str, Any]:
        """A JSON-able dict. ``gates=True`` adds the gate maps as nested lists (large)."""
        d: dict[str, Any] = {
            "source": self.source,
            "category": self.category.to_dict() if self.category else None,
            "attributes": {g: list(v) for g, v in self.attributes.items()},
            "groups": {g: [v, float(p)] for g, (v, p) in self.groups.items()},
        }
        if scores:
            d["scores"] = {k: float(v) for k, v in self.scores.items()}
        if gates and self.gates:
            d["gates"] = {k: np.asarray(v, np.float32).round(4).tolist() for k, v in self.gates.items()}
        if self.landmarks is not None:
            d["landmarks"] = {k: [float(c) for c in v] for k, v in self.landmarks.items()}
        if self.embedding is not None:
            d["embedding"] = np.asarray(self.embedding, np.float32).tolist()
        d["bbox"] = None if self.bbox is None else [float(v) for v in self.bbox]
        d["error"] = None if self.error is None else {
            "type": type(self.error).__name__, "message": str(self.error)}
        d["timings"] = {k: float(v) for k, v in self.timings.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Prediction":
        """Rebuild from ``to_dict`` output (errors come back as EdgeFashionError-typed if known)."""
        err = d.get("error")
        return cls(
            source=d["source"],
            category=CategoryResult.from_dict(d["category"]) if d.get("category") else None,
            attributes={g: list(v) for g, v in d.get("attributes", {}).items()},
            groups={g: (str(v), float(p)) for g, (v, p) in d.get("groups", {}).items()},
            scores={k: float(v) for k, v in d.get("scores", {}).items()},
            gates={k: np.asarray(v, np.float32) for k, v in d.get("gates", {}).items()},
            landmarks=None if d.get("landmarks") is None else {
                k: tuple(float(c) for c in v) for k, v in d["landmarks"].items()},
            embedding=None if d.get("embedding") is None else np.asarray(d["embedding"], np.float32),
            bbox=None if d.get("bbox") is None else tuple(d["bbox"]),
            error=None if err is None else _rebuild_error(err),
            timings=dict(d.get("timings", {})),
        )

    def __repr__(self) -> str:
        if self.error is not None:
            return f"Prediction({self.source}, error={type(self.error).__name__}: {self.error})"
        cat = f"{self.category.label} {self.category.score:.2f}" if self.category else "-"
        attrs = "; ".join(f"{g}: {', '.join(v)}" for g, v in self.attributes.items() if v)
        return f"Prediction({self.source}, {cat}" + (f", {attrs})" if attrs else ")")


def _rebuild_error(err: dict) -> Exception:
    from edgefashion import errors

    cls = getattr(errors, str(err.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = errors.EdgeFashionError
    return cls(err.get("message", ""))
