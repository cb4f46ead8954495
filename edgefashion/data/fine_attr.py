"""Reader for the DeepFashion fine-grained attribute layout (26 attributes in 6 exclusive groups).

    root/split/list_attr_cloth.txt     26 names with group ids 1..6
    root/split/<split>.txt             one image name per line, relative to root (img/00001.jpg)
    root/split/<split>_attr.txt        6 integers per line: the 0-based class inside each group
                                       (or 26 values 1 / 0, one per attribute)
    root/split/<split>_bbox.txt        x1 y1 x2 y2                              (optional)
    root/split/<split>_landmards.txt   8 (x, y) points, 0 0 = absent ("landmarks" also accepted; optional)
    root/split/<split>_cate.txt        1-based category ids, with list_category_cloth.txt  (optional)

All per-split files are line-aligned with ``<split>.txt``. Without category labels the schema has
one placeholder category, ``garment`` (every sample gets category 0), because a LabelSchema needs
at least one category; models trained on it should ignore the category head.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgefashion.data.listfile import check_exclusive, parse_bbox, parse_ints, require_file
from edgefashion.data.sample import ABSENT, SPLITS, VISIBLE, Sample
from edgefashion.errors import BadInput, DatasetError
from edgefashion.labels import Attribute, Category, LabelSchema
from edgefashion.labels.deepfashion import (
    CATEGORY_TYPE_NAMES, COARSE_GROUPS, FINE_GROUPS, read_name_type_list,
)

PLACEHOLDER_CATEGORY = "garment"


def read_fine_attr(root: str | Path, split: str | None = "train") -> tuple[LabelSchema, list[Sample]]:
    """-> (schema, samples) of one split ("train" / "val" / "test"), or of every split when None."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"fine-attribute dataset {str(root)!r} does not exist or is not a folder")
    sdir = root / "split" if (root / "split").is_dir() else root
    if split is not None and split not in SPLITS:
        raise BadInput(f"split {split!r} must be one of {', '.join(SPLITS)} or None")
    have = [s for s in SPLITS if (sdir / f"{s}.txt").is_file()]
    splits = [split] if split is not None else have
    if not splits or splits[0] not in have:
        wanted = f"{split}.txt" if split else "train.txt / val.txt / test.txt"
        raise DatasetError(
            f"{sdir / wanted} does not exist; splits found in {sdir}: {', '.join(have) or 'none'}"
        )
    cat_file = next((d / "list_category_cloth.txt" for d in (sdir, sdir.parent)
                     if (d / "list_category_cloth.txt").is_file()), None)
    with_categories = cat_file is not None and all((sdir / f"{s}_cate.txt").is_file() for s in splits)
    schema = fine_attr_schema(sdir, cat_file if with_categories else None)
    samples: list[Sample] = []
    for s in splits:
        samples.extend(_read_split(root, sdir, s, schema, with_categories))
    return schema, samples


def fine_attr_schema(sdir: Path, category_file: Path | None = None) -> LabelSchema:
    """Attributes from list_attr_cloth.txt (6 types -> 6 exclusive groups); categories from
    ``category_file`` (a list_category_cloth.txt), else the single placeholder ``garment``."""
    attr_file = _first_file(sdir, "list_attr_cloth.txt", "attribute list")
    entries = read_name_type_list(attr_file)
    if not entries:
        raise DatasetError(f"{attr_file} lists no attributes")
    types = sorted({t for _, t in entries})
    names = FINE_GROUPS if len(types) == 6 else COARSE_GROUPS
    if min(types) < 1 or max(types) > len(names):
        raise DatasetError(f"{attr_file}: attribute types {types} must lie in 1..{len(names)}")
    groups = tuple(names[t - 1] for t in types)
    cats = (
        tuple(Category(n, CATEGORY_TYPE_NAMES.get(t, "any")) for n, t in read_name_type_list(category_file))
        if category_file is not None else (Category(PLACEHOLDER_CATEGORY),)
    )
    return LabelSchema(
        cats, tuple(Attribute(n, names[t - 1]) for n, t in entries), groups=groups,
        exclusive_groups=groups if len(types) == 6 else (),
    )


def _read_split(root: Path, sdir: Path, split: str, schema: LabelSchema,
                with_categories: bool) -> list[Sample]:
    list_file = sdir / f"{split}.txt"
    names = _lines(list_file)
    if not names:
        raise DatasetError(f"{list_file} lists no images")
    n = len(names)
    attrs = _aligned(sdir / f"{split}_attr.txt", n, lambda t, p, i: _attr_row(t, p, i, schema))
    boxes = _aligned(sdir / f"{split}_bbox.txt", n, parse_bbox)
    lm_file = sdir / f"{split}_landmards.txt"
    if not lm_file.is_file():
        lm_file = sdir / f"{split}_landmarks.txt"
    marks = _aligned(lm_file, n, _landmark_row)
    cats = [0] * n
    if with_categories:
        cats = _aligned(sdir / f"{split}_cate.txt", n,
                        lambda t, p, i: _category_row(t, p, i, schema.num_categories))
    return [
        Sample(root / name, cats[i], attrs[i], boxes[i], marks[i], split)
        for i, (_, name) in enumerate(names)
    ]


def _attr_row(text: str, path: Path, lineno: int, schema: LabelSchema) -> np.ndarray:
    vals = parse_ints(text, path, lineno, "attribute")
    groups = schema.group_indices()
    if len(vals) == len(groups):  # one class index per group -> one-hot 1 / -1
        out = np.full(schema.num_attributes, -1, np.int8)
        for (g, idx), v in zip(groups.items(), vals):
            if not 0 <= v < len(idx):
                raise DatasetError(
                    f"{path}:{lineno}: class {v} is out of range for group {g!r} "
                    f"(0..{len(idx) - 1}: {', '.join(schema.attribute_names[j] for j in idx)})"
                )
            out[idx[v]] = 1
        return out
    if len(vals) == schema.num_attributes and set(vals) <= {-1, 0, 1}:
        out = np.where(np.asarray(vals) == 1, 1, -1).astype(np.int8)  # 0 means negative here
        check_exclusive(out, [lineno], schema, path,
                        "the schema that fine_attr_schema builds, which makes all 6 groups exclusive")
        return out
    raise DatasetError(
        f"{path}:{lineno}: expected {len(groups)} group class indices (or {schema.num_attributes} "
        f"binary labels), found {len(vals)} values"
    )


def _landmark_row(text: str, path: Path, lineno: int) -> np.ndarray:
    xy = np.asarray(parse_ints(text, path, lineno, "landmark", 16), np.float32).reshape(8, 2)
    absent = (xy == 0).all(axis=1)
    vis = np.where(absent, ABSENT, VISIBLE).astype(np.float32)
    return np.concatenate([xy, vis[:, None]], axis=1)


def _category_row(text: str, path: Path, lineno: int, num_categories: int) -> int:
    (cid,) = parse_ints(text, path, lineno, "category id", 1)
    if not 1 <= cid <= num_categories:
        raise DatasetError(f"{path}:{lineno}: category id {cid} is out of range 1..{num_categories}")
    return cid - 1


def _lines(path: Path) -> list[tuple[int, str]]:
    require_file(path, "list file")
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [(i, ln.strip()) for i, ln in enumerate(text, 1) if ln.strip()]


def _aligned(path: Path, n: int, parse) -> list:
    """Parse a line-aligned per-split file; [None] * n when it does not exist."""
    if not path.is_file():
        return [None] * n
    rows = _lines(path)
    if len(rows) != n:
        raise DatasetError(
            f"{path} has {len(rows)} lines but the image list has {n}; the files must be line-aligned"
        )
    return [parse(text, path, lineno) for lineno, text in rows]


def _first_file(sdir: Path, name: str, what: str) -> Path:
    for d in (sdir, sdir.parent):
        if (d / name).is_file():
            return d / name
    return require_file(sdir / name, what)
