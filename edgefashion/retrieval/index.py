"""A retrieval index: embeddings of a folder of images plus their labels, saved as one .npz.

    index = build_index(Predictor("m2fashion.onnx"), paths, conditions=["floral", "texture"])
    index.save("index.npz"); index = RetrievalIndex.load("index.npz")

Every image is embedded plainly (nothing known) and once per *condition* (attribute-specific
embeddings, M2Fashion section 4.5): an attribute name (``"floral"``) runs the model with
known={floral: True} for every image; a group name (``"texture"``, ``"baseColour"``) runs each image
with its own value in that group known (the true label when the index has one, else the
predicted one), the other values of an exclusive group known absent. Labels: the true category /
attributes when the images come from a labelled dataset (0 / -1 where unknown), and the model's
predictions (category, attribute scores and post-processed labels) always. numpy only, no torch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from edgefashion.errors import BadInput, ModelFileError, unknown_name
from edgefashion.labels import LabelSchema

FORMAT = "edgefashion-index"
FORMAT_VERSION = 1
PLAIN = ""  # the unconditioned embedding's key


@dataclass
class RetrievalIndex:
    """N images: ``paths``, ``embeddings`` {condition: (N, D) L2-normalised} ("" = plain),
    ``categories`` (N,) true (-1 unknown), ``attributes`` (N, A) true 1 / -1 / 0,
    ``pred_categories`` (N,), ``attribute_scores`` (N, A), ``pred_attributes`` (N, A) bool."""

    paths: list[str]
    embeddings: dict[str, np.ndarray]
    schema: LabelSchema
    categories: np.ndarray
    attributes: np.ndarray
    pred_categories: np.ndarray
    attribute_scores: np.ndarray
    pred_attributes: np.ndarray
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def conditions(self) -> list[str]:
        return [c for c in self.embeddings if c != PLAIN]

    def category_labels(self) -> np.ndarray:
        """(N,) the true category where known, else the predicted one."""
        return np.where(self.categories >= 0, self.categories, self.pred_categories)

    def attribute_labels(self) -> np.ndarray:
        """(N, A) bool present: the true label where known (non-zero), else the prediction."""
        return np.where(self.attributes != 0, self.attributes == 1, self.pred_attributes)

    def describe(self, i: int) -> dict:
        """Image i's labels by name: {"category": ..., "attributes": [...], "source": "true"|...}."""
        names, attrs = self.schema.category_names, self.schema.attribute_names
        cat = int(self.category_labels()[i])
        on = np.nonzero(self.attribute_labels()[i])[0]
        return {"category": names[cat] if cat >= 0 else None,
                "attributes": [attrs[a] for a in on],
                "labels": "true" if self.categories[i] >= 0 else "predicted"}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conds = list(self.embeddings)
        meta = {**self.meta, "format": FORMAT, "format_version": FORMAT_VERSION,
                "schema": self.schema.to_dict(), "conditions": conds}
        arrays = {f"embedding_{i}": self.embeddings[c].astype(np.float32) for i, c in enumerate(conds)}
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, meta=np.asarray(json.dumps(meta)), paths=np.asarray(self.paths),
                            categories=self.categories, attributes=self.attributes,
                            pred_categories=self.pred_categories,
                            attribute_scores=self.attribute_scores,
                            pred_attributes=self.pred_attributes, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "RetrievalIndex":
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"index {str(path)!r} does not exist; build one with "
                                 "`edgefashion index DIR -o index.npz --model MODEL`")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError) as e:
            raise ModelFileError(f"{str(path)!r} is not an edgefashion index ({e})") from e
        if meta.get("format") != FORMAT:
            raise ModelFileError(f"{str(path)!r} is an .npz but not an edgefashion index")
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelFileError(f"{str(path)!r} was written by a newer edgefashion; upgrade it")
        conds = meta.pop("conditions")
        return cls(paths=[str(p) for p in data["paths"]],
                   embeddings={c: data[f"embedding_{i}"] for i, c in enumerate(conds)},
                   schema=LabelSchema.from_dict(meta.pop("schema")),
                   categories=data["categories"], attributes=data["attributes"],
                   pred_categories=data["pred_categories"], attribute_scores=data["attribute_scores"],
                   pred_attributes=data["pred_attributes"], meta=meta)


def check_condition(schema: LabelSchema, condition: str) -> str:
    """'attribute' or 'group' for a valid condition name; UnknownName otherwise."""
    if condition in schema.attribute_names:
        return "attribute"
    if condition in schema.groups and schema.group_indices()[condition]:
        return "group"
    raise unknown_name("attribute or group", condition,
                       list(schema.attribute_names) + list(schema.groups))


def condition_states(schema: LabelSchema, condition: str, present: np.ndarray,
                     scores: np.ndarray) -> list[dict]:
    """Per image the ``known=`` dict that conditions the model on ``condition``.

    present: (N, A) bool labels to condition on (true or predicted); scores: (N, A) sigmoid scores
    (a group with no present label falls back to its highest-scoring value).
    """
    if check_condition(schema, condition) == "attribute":
        return [{condition: True}] * len(present)
    idx = schema.group_indices()[condition]
    names = [schema.attribute_names[a] for a in idx]
    exclusive = condition in schema.exclusive_groups
    out = []
    for on, sc in zip(present[:, idx], scores[:, idx]):
        chosen = np.nonzero(on)[0] if on.any() else np.asarray([int(np.argmax(sc))])
        if exclusive:
            best = chosen[int(np.argmax(sc[chosen]))]
            out.append({n: bool(j == best) for j, n in enumerate(names)})
        else:
            out.append({names[j]: True for j in chosen})
    return out


def build_index(predictor, paths: Sequence[str | Path], conditions: Sequence[str] = (),
                categories: np.ndarray | None = None, attributes: np.ndarray | None = None,
                meta: dict | None = None) -> RetrievalIndex:
    """Embed ``paths`` with ``predictor`` (a Predictor whose model outputs "embedding").

    categories (N,) / attributes (N, A): true labels in the predictor's schema (optional).
    Images that cannot be read are left out (their count is in ``meta["skipped"]``).
    """
    schema = predictor.schema
    if "embedding" not in predictor.backend.output_names:
        raise BadInput(f"model {predictor.path.name!r} has no 'embedding' output (outputs: "
                       f"{predictor.backend.output_names}); index with an m2fashion or multibranch model")
    if conditions and "known" not in predictor.extra_inputs:
        raise BadInput(f"attribute-specific embeddings need a model with a 'known' input (m2fashion); "
                       f"{predictor.path.name!r} has inputs {predictor.backend.input_names}")
    for c in conditions:
        check_condition(schema, c)
    preds = predictor([str(p) for p in paths])
    keep = [i for i, p in enumerate(preds) if p.ok]
    if not keep:
        raise BadInput(f"none of the {len(paths)} images could be read (first error: {preds[0].error})")
    preds = [preds[i] for i in keep]
    n, a = len(preds), schema.num_attributes
    true_c = np.full(len(paths), -1, np.int64) if categories is None else np.asarray(categories, np.int64)
    true_a = np.zeros((len(paths), a), np.int8) if attributes is None else np.asarray(attributes, np.int8)
    true_c, true_a = true_c[keep], true_a[keep]
    scores = np.asarray([[p.scores[x] for x in schema.attribute_names] for p in preds],
                        np.float32).reshape(n, a)
    on = {x: i for i, x in enumerate(schema.attribute_names)}
    pred_a = np.zeros((n, a), bool)
    for i, p in enumerate(preds):
        pred_a[i, [on[x] for x in p.labels]] = True
    index = RetrievalIndex(
        paths=[str(paths[i]) for i in keep], embeddings={PLAIN: _embeddings(preds)}, schema=schema,
        categories=true_c, attributes=true_a,
        pred_categories=np.asarray([p.category.index for p in preds], np.int64),
        attribute_scores=scores, pred_attributes=pred_a,
        meta={**(meta or {}), "skipped": len(paths) - n})
    present = index.attribute_labels()
    for c in conditions:
        known = condition_states(schema, c, present, scores)
        index.embeddings[c] = _embeddings(predictor(index.paths, known=known))
    return index


def _embeddings(preds) -> np.ndarray:
    return np.stack([np.asarray(p.embedding, np.float32) for p in preds])
