"""LabelSchema: the one description of a model's outputs.

Categories (with their body type), attributes grouped by type, mutually exclusive groups,
category -> attribute applicability and per-attribute thresholds. It travels inside every
artifact (checkpoint, ONNX metadata_props, engine sidecar) as JSON.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from edgefashion.errors import SchemaError
from edgefashion.labels.deepfashion import (CATEGORY_TYPE_NAMES, COARSE_GROUPS, FINE_GROUPS,
                                            MERGED_CATEGORIES, list_category_folders, read_name_type_list)

CATEGORY_TYPES = ("upper", "lower", "full", "any")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Category:
    name: str
    type: str = "any"  # upper / lower / full body, or "any" when unknown


@dataclass(frozen=True)
class Attribute:
    name: str
    group: str
    threshold: float = 0.5


@dataclass(frozen=True)
class LabelSchema:
    """Names and semantics of a model's outputs.

    ``applicability`` maps a category name or a category type ("upper", ...) to the attribute
    groups and/or attribute names that apply to it; a category not covered gets every attribute.
    ``exclusive_groups`` are the groups in which at most one attribute may be predicted.
    ``softmax_groups`` (a subset of them) are the groups whose logits were trained as one softmax
    (cross-entropy over the group's values): their scores are the softmax over the group and the
    group answers its best value. Older artifacts have none: every attribute is a sigmoid.
    ``category_temperature`` and ``group_temperatures`` (softmax groups only) divide the logits
    before their softmax: fitted on validation after training (training.temperature) so a score
    of 0.8 is right about 80 % of the time; 1.0 (and older artifacts) leave the logits as trained.
    """

    categories: tuple[Category, ...]
    attributes: tuple[Attribute, ...] = ()
    groups: tuple[str, ...] = ()
    exclusive_groups: tuple[str, ...] = ()
    applicability: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    softmax_groups: tuple[str, ...] = ()
    category_temperature: float = 1.0
    group_temperatures: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "attributes", tuple(self.attributes))
        groups = tuple(self.groups) or tuple(dict.fromkeys(a.group for a in self.attributes))
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "exclusive_groups", tuple(self.exclusive_groups))
        object.__setattr__(self, "softmax_groups", tuple(self.softmax_groups))
        object.__setattr__(self, "category_temperature", _number(self.category_temperature))
        object.__setattr__(self, "group_temperatures",
                           {str(k): _number(v) for k, v in dict(self.group_temperatures).items()})
        object.__setattr__(
            self, "applicability", {k: tuple(v) for k, v in dict(self.applicability).items()}
        )
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        if not self.categories:
            raise SchemaError("a LabelSchema needs at least one category; none were given")
        _no_duplicates("category", [c.name for c in self.categories])
        _no_duplicates("attribute", [a.name for a in self.attributes])
        _no_duplicates("group", list(self.groups))
        for c in self.categories:
            if not c.name.strip():
                raise SchemaError("a category name is empty; give every category a name")
            if c.type not in CATEGORY_TYPES:
                raise SchemaError(
                    f"category {c.name!r} has type {c.type!r}; use one of {', '.join(CATEGORY_TYPES)}"
                )
        for a in self.attributes:
            if a.group not in self.groups:
                raise SchemaError(
                    f"attribute {a.name!r} is in unknown group {a.group!r}; "
                    f"known groups: {', '.join(self.groups)}"
                )
            if not (0.0 < float(a.threshold) < 1.0):
                raise SchemaError(
                    f"attribute {a.name!r} has threshold {a.threshold}; thresholds must lie in (0, 1)"
                )
        for g in self.exclusive_groups:
            if g not in self.groups:
                raise SchemaError(f"exclusive group {g!r} is not a group; known: {', '.join(self.groups)}")
        for g in self.softmax_groups:
            if g not in self.exclusive_groups:
                raise SchemaError(f"softmax group {g!r} is not a mutually exclusive group; exclusive: "
                                  f"{', '.join(self.exclusive_groups) or 'none'}")
        temps = {"category": self.category_temperature, **self.group_temperatures}
        for name, t in temps.items():
            if not (math.isfinite(t) and t > 0):
                raise SchemaError(f"temperature of {name!r} is {t}; a temperature must be a finite "
                                  "number > 0 (1.0 leaves the logits as trained)")
        for g in self.group_temperatures:
            if g not in self.softmax_groups:
                raise SchemaError(f"a temperature is given for group {g!r}, which is not a softmax group; "
                                  f"softmax groups: {', '.join(self.softmax_groups) or 'none'}")
        keys = set(self.category_names) | set(CATEGORY_TYPES)
        targets = set(self.groups) | set(self.attribute_names)
        for key, values in self.applicability.items():
            if key not in keys:
                raise SchemaError(
                    f"applicability key {key!r} is neither a category name nor a category type"
                )
            for v in values:
                if v not in targets:
                    raise SchemaError(
                        f"applicability of {key!r} names {v!r}, which is neither a group nor an attribute"
                    )

    # ------------------------------------------------------------------ views
    @property
    def category_names(self) -> list[str]:
        return [c.name for c in self.categories]

    @property
    def attribute_names(self) -> list[str]:
        return [a.name for a in self.attributes]

    @property
    def num_categories(self) -> int:
        return len(self.categories)

    @property
    def num_attributes(self) -> int:
        return len(self.attributes)

    def thresholds(self) -> np.ndarray:
        """(A,) float32 per-attribute thresholds."""
        return np.asarray([a.threshold for a in self.attributes], dtype=np.float32)

    def group_indices(self) -> dict[str, list[int]]:
        """Attribute indices per group, in schema order."""
        out: dict[str, list[int]] = {g: [] for g in self.groups}
        for i, a in enumerate(self.attributes):
            out[a.group].append(i)
        return out

    def softmax_indices(self) -> list[list[int]]:
        """Attribute indices of each softmax group (empty for artifacts trained with sigmoids)."""
        groups = self.group_indices()
        return [groups[g] for g in self.softmax_groups if groups[g]]

    def softmax_temperatures(self) -> list[float]:
        """The temperature of each softmax group, aligned with ``softmax_indices``."""
        groups = self.group_indices()
        return [self.group_temperatures.get(g, 1.0) for g in self.softmax_groups if groups[g]]

    def with_temperatures(self, category: float = 1.0, groups: Mapping[str, float] | None = None
                          ) -> "LabelSchema":
        """A copy with these temperatures (groups not named get 1.0)."""
        return self.replace(category_temperature=category, group_temperatures=dict(groups or {}))

    def applicability_mask(self) -> np.ndarray:
        """(C, A) bool: True where attribute a may be reported for category c."""
        mask = np.ones((self.num_categories, self.num_attributes), dtype=bool)
        if not self.applicability or not self.attributes:
            return mask
        group_of = np.asarray([a.group for a in self.attributes])
        names = np.asarray(self.attribute_names)
        for ci, cat in enumerate(self.categories):
            rule = self.applicability.get(cat.name, self.applicability.get(cat.type))
            if rule is not None:
                mask[ci] = np.isin(group_of, rule) | np.isin(names, rule)
        return mask

    def with_thresholds(self, thresholds: Mapping[str, float] | Sequence[float]) -> "LabelSchema":
        """A copy with new thresholds (a mapping name -> value, or one value per attribute)."""
        if isinstance(thresholds, Mapping):
            unknown = set(thresholds) - set(self.attribute_names)
            if unknown:
                raise SchemaError(f"thresholds given for unknown attributes: {sorted(unknown)}")
            values = [thresholds.get(a.name, a.threshold) for a in self.attributes]
        else:
            values = list(thresholds)
            if len(values) != self.num_attributes:
                raise SchemaError(
                    f"{len(values)} thresholds given for {self.num_attributes} attributes"
                )
        attrs = tuple(Attribute(a.name, a.group, float(t)) for a, t in zip(self.attributes, values))
        return self.replace(attributes=attrs)

    def replace(self, **changes) -> "LabelSchema":
        d = dict(
            categories=self.categories, attributes=self.attributes, groups=self.groups,
            exclusive_groups=self.exclusive_groups, applicability=self.applicability,
            softmax_groups=self.softmax_groups, category_temperature=self.category_temperature,
            group_temperatures=self.group_temperatures,
        )
        d.update(changes)
        if "softmax_groups" in changes and "group_temperatures" not in changes:
            kept = set(d["softmax_groups"])  # a group no longer a softmax has no temperature
            d["group_temperatures"] = {g: t for g, t in self.group_temperatures.items() if g in kept}
        return LabelSchema(**d)

    def check_outputs(self, num_categories: int, num_attributes: int, where: str = "the model") -> None:
        """Raise SchemaError when the schema's sizes disagree with a model's outputs."""
        if (num_categories, num_attributes) != (self.num_categories, self.num_attributes):
            raise SchemaError(
                f"{where} has {num_categories} category and {num_attributes} attribute outputs, "
                f"but the LabelSchema has {self.num_categories} categories and "
                f"{self.num_attributes} attributes; pass the schema the model was trained with"
            )

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        return {
            "version": SCHEMA_VERSION,
            "categories": [{"name": c.name, "type": c.type} for c in self.categories],
            "attributes": [
                {"name": a.name, "group": a.group, "threshold": float(a.threshold)}
                for a in self.attributes
            ],
            "groups": list(self.groups),
            "exclusive_groups": list(self.exclusive_groups),
            "applicability": {k: list(v) for k, v in self.applicability.items()},
            "softmax_groups": list(self.softmax_groups),
            "category_temperature": self.category_temperature,
            "group_temperatures": dict(self.group_temperatures),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "LabelSchema":
        try:
            if int(d.get("version", SCHEMA_VERSION)) > SCHEMA_VERSION:
                raise SchemaError(
                    f"LabelSchema version {d['version']} is newer than this edgefashion understands "
                    f"({SCHEMA_VERSION}); upgrade edgefashion"
                )
            return cls(
                categories=tuple(Category(c["name"], c.get("type", "any")) for c in d["categories"]),
                attributes=tuple(
                    Attribute(a["name"], a["group"], float(a.get("threshold", 0.5)))
                    for a in d.get("attributes", ())
                ),
                groups=tuple(d.get("groups", ())),
                exclusive_groups=tuple(d.get("exclusive_groups", ())),
                applicability=d.get("applicability", {}),
                softmax_groups=tuple(d.get("softmax_groups", ())),
                category_temperature=d.get("category_temperature", 1.0),
                group_temperatures=d.get("group_temperatures", {}),
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise SchemaError(f"not a valid LabelSchema dictionary (missing or wrong field: {e})") from e

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> "LabelSchema":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise SchemaError(f"LabelSchema JSON does not parse: {e}") from e

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json(indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LabelSchema":
        path = Path(path)
        if not path.is_file():
            raise SchemaError(f"LabelSchema file {str(path)!r} does not exist")
        return cls.from_json(path.read_text())

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_deepfashion(cls, list_category_cloth, list_attr_cloth=None, **kw) -> "LabelSchema":
        """See ``schema_from_deepfashion``."""
        return schema_from_deepfashion(list_category_cloth, list_attr_cloth, **kw)

    @classmethod
    def from_folders(cls, root: str | Path) -> "LabelSchema":
        """Categories = the image sub-folders of ``root`` (no attributes)."""
        return schema_from_folders(root)

    @classmethod
    def simple(cls, categories: Iterable[str], attributes: Mapping[str, Iterable[str]] = None,
               exclusive_groups: Iterable[str] = ()) -> "LabelSchema":
        """Build from names: ``simple(["tee", "jeans"], {"texture": ["striped", "dotted"]})``."""
        attrs = tuple(Attribute(n, g) for g, names in (attributes or {}).items() for n in names)
        return cls(tuple(Category(c) for c in categories), attrs,
                   groups=tuple((attributes or {}).keys()), exclusive_groups=tuple(exclusive_groups))


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as e:
        raise SchemaError(f"temperature {value!r} is not a number; give a finite number > 0") from e


def _no_duplicates(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise SchemaError(f"duplicate {kind} name {n!r}; every {kind} name must be unique")
        seen.add(n)


def schema_from_deepfashion(list_category_cloth, list_attr_cloth=None, *, group_names=None,
                            exclusive=None, drop_merged: bool = False) -> LabelSchema:
    """Build a schema from DeepFashion-C's ``list_category_cloth.txt`` / ``list_attr_cloth.txt``.

    The coarse list (5 types) gives independent binary tags; the fine list (6 types, 26 names)
    gives one mutually exclusive group per type. ``group_names`` overrides the type names.
    """
    cats = [
        Category(name, CATEGORY_TYPE_NAMES.get(t, "any"))
        for name, t in read_name_type_list(list_category_cloth)
        if not (drop_merged and name in MERGED_CATEGORIES)
    ]
    if list_attr_cloth is None:
        return LabelSchema(tuple(cats))
    entries = read_name_type_list(list_attr_cloth)
    types = sorted({t for _, t in entries})
    if group_names is None:
        group_names = FINE_GROUPS if len(types) == 6 else COARSE_GROUPS
    if len(group_names) < max(types):
        raise SchemaError(
            f"{list_attr_cloth}: attribute types go up to {max(types)} but only "
            f"{len(group_names)} group names were given ({', '.join(group_names)})"
        )
    attrs = tuple(Attribute(name, group_names[t - 1]) for name, t in entries)
    groups = tuple(group_names[t - 1] for t in types)
    if exclusive is None:
        exclusive = groups if len(types) == 6 else ()
    return LabelSchema(tuple(cats), attrs, groups=groups, exclusive_groups=tuple(exclusive))


def schema_from_folders(root: str | Path) -> LabelSchema:
    """Categories = the image sub-folders of ``root`` (no attributes)."""
    return LabelSchema(tuple(Category(d.name) for d in list_category_folders(root)))
