"""Reader for the Fashion Product Images layout (``styles.csv`` + ``images/<id>.jpg``).

The catalogue's columns become the multi-task transformer paper's "attributes x values" layout:
one column is the category (``articleType`` by default), every other labelled column an attribute
group whose values are mutually exclusive (``gender``, ``baseColour``, ``usage``, ...). Attribute
names are ``"<column>=<value>"`` (``"baseColour=Blue"``), unique across groups. A row's value gives
+1 to its attribute and -1 to the rest of the group; an empty value leaves the group unknown (0).

    schema, samples = read_fashion_product("data/fashion-product-small")
    _, val = read_fashion_product(root, split="val", schema=schema)

Split: the file has no split column, so ``split="train"`` / ``"val"`` is a seeded split stratified
by the category (``val_fraction`` of each category with >= 3 images, at least one, goes to val);
``split=None`` returns every row. A separate test folder is read whole with ``split=None``
(``edgefashion evaluate MODEL --data DIR --split all``; the CLI's ``--split test`` does the same
for this layout). No torch import.
"""
from __future__ import annotations

import csv
import warnings
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from edgefashion.data.sample import Sample
from edgefashion.errors import BadInput, DatasetError
from edgefashion.labels.schema import Attribute, Category, LabelSchema

CATEGORY_FIELD = "articleType"
GROUP_FIELDS = ("masterCategory", "subCategory", "gender", "baseColour", "season", "usage")
# subCategory -> body type of the garment (others: "any")
BODY_TYPES = {"Topwear": "upper", "Bottomwear": "lower", "Dress": "full", "Saree": "full",
              "Apparel Set": "full"}


def attribute_name(field: str, value: str) -> str:
    return f"{field}={value}"


def read_fashion_product(root: str | Path, split: str | None = None, schema: LabelSchema | None = None,
                         category_field: str = CATEGORY_FIELD, groups: Sequence[str] = GROUP_FIELDS,
                         val_fraction: float = 0.15, seed: int = 0) -> tuple[LabelSchema, list[Sample]]:
    """-> (schema, samples). ``schema``: reuse one (e.g. the training set's) so that indices match;
    categories / values it does not know become -1 (category) / all -1 in that group (attributes).
    """
    if split not in (None, "train", "val", "test"):
        raise BadInput(f"split {split!r} must be 'train', 'val', 'test' or None (all rows)")
    if split == "test":
        raise DatasetError(f"{root}: the Fashion Product layout has no test split (styles.csv has no "
                           "split column); read a separate test folder with split=None "
                           "(edgefashion evaluate --split all)")
    if not 0 <= val_fraction < 1:
        raise BadInput(f"val_fraction {val_fraction} must lie in [0, 1)")
    root = Path(root)
    rows = _read_rows(root, category_field, groups)
    groups = [g for g in groups if g != category_field]
    if schema is None:
        schema = build_schema(rows, category_field, groups)
    if split is not None:
        val = _val_ids(rows, category_field, val_fraction, seed)
        rows = [r for r in rows if (r["id"] in val) == (split == "val")]
    cat_index = {c: i for i, c in enumerate(schema.category_names)}
    attr_index = {a: i for i, a in enumerate(schema.attribute_names)}
    members = {g: idx for g, idx in schema.group_indices().items() if idx}
    return schema, [_sample(root, r, cat_index, attr_index, members, category_field, split)
                    for r in rows]


def build_schema(rows: list[dict], category_field: str = CATEGORY_FIELD,
                 groups: Sequence[str] = GROUP_FIELDS) -> LabelSchema:
    """Categories: the sorted values of ``category_field``, typed by their usual subCategory.
    Groups: one exclusive group per other field, its sorted non-empty values as attributes; a field
    with a single value warns (the group is kept)."""
    groups = [g for g in groups if g != category_field]
    sub: dict[str, Counter] = {}
    for r in rows:
        if r[category_field]:
            sub.setdefault(r[category_field], Counter())[r.get("subCategory", "")] += 1
    cats = tuple(Category(c, BODY_TYPES.get(sub[c].most_common(1)[0][0], "any")) for c in sorted(sub))
    values = {g: sorted({r[g] for r in rows if r[g]}) for g in groups}
    for g, vs in values.items():
        if len(vs) == 1:
            warnings.warn(f"column {g!r} has the single value {vs[0]!r} in every labelled row; a "
                          "one-value group carries no information (it is kept); leave the column out "
                          "of groups= or add rows with other values", stacklevel=3)
    attrs = tuple(Attribute(attribute_name(g, v), g) for g in groups for v in values[g])
    used = tuple(g for g in groups if any(a.group == g for a in attrs))
    return LabelSchema(cats, attrs, groups=used, exclusive_groups=used)


def _read_rows(root: Path, category_field: str, groups: Sequence[str]) -> list[dict]:
    csv_path = root / "styles.csv"
    if not csv_path.is_file():
        raise DatasetError(f"{str(root)!r} has no styles.csv; expected the Fashion Product Images "
                           "layout (styles.csv + images/<id>.jpg)")
    with open(csv_path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        need = ["id", category_field, *groups]
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{csv_path}: columns {missing} are missing; the header is "
                               f"{reader.fieldnames}")
        rows, absent = [], []
        for r in reader:
            r = {k: (v or "").strip() for k, v in r.items() if k is not None}
            if not r["id"]:
                continue
            if not (root / "images" / f"{r['id']}.jpg").is_file():
                absent.append(r["id"])
                continue
            rows.append(r)
    if not rows:
        raise DatasetError(f"{csv_path}: no row has its image under {root / 'images'}")
    if absent:
        warnings.warn(f"{csv_path}: {len(absent)} rows have no image in images/ and are skipped "
                      f"(first: {absent[0]}.jpg)", stacklevel=3)
    return rows


def _val_ids(rows: list[dict], category_field: str, fraction: float, seed: int) -> set[str]:
    by_cat: dict[str, list[str]] = {}
    for r in rows:
        by_cat.setdefault(r[category_field], []).append(r["id"])
    rng = np.random.default_rng(seed)
    val: set[str] = set()
    for cat in sorted(by_cat):
        ids = sorted(by_cat[cat])
        if len(ids) < 3 or fraction == 0:
            continue
        n = max(1, int(round(len(ids) * fraction)))
        val.update(ids[i] for i in rng.permutation(len(ids))[:n])
    return val


def _sample(root: Path, r: dict, cat_index: dict, attr_index: dict, members: dict,
            category_field: str, split: str | None) -> Sample:
    labels = np.zeros(len(attr_index), np.int8)
    for group, idx in members.items():
        value = r.get(group, "")
        if not value:
            continue  # unknown: the whole group stays 0
        labels[idx] = -1
        hit = attr_index.get(attribute_name(group, value))
        if hit is not None:
            labels[hit] = 1
    return Sample(root / "images" / f"{r['id']}.jpg", cat_index.get(r[category_field], -1),
                  labels if len(attr_index) else None, split=split)
