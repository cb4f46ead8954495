"""Reader for the DeepFashion-C (Category and Attribute Prediction Benchmark) layout.

    root/Anno/list_category_cloth.txt   <name> <type 1 upper / 2 lower / 3 full>
    root/Anno/list_attr_cloth.txt       <name> <type 1..5>                    (optional)
    root/Anno/list_category_img.txt     <image> <category id, 1-based>
    root/Anno/list_attr_img.txt         <image> <one label per attribute: 1 / -1 / 0 unknown> (optional)
    root/Anno/list_bbox.txt             <image> x_1 y_1 x_2 y_2                (optional)
    root/Anno/list_landmarks.txt        <image> clothes_type variation_type (visibility x y)*  (optional)
    root/Eval/list_eval_partition.txt   <image> train|val|test                 (needed for a split)
    root/img/... (or root/Img/img/...)  the images; names are relative to root

``Anno_coarse/`` or ``Anno_fine/`` may stand in for ``Anno/``. Every list may have or lack the
count line. An optional ``Anno/edgefashion_schema.json`` (a LabelSchema written by
``generate_synthetic``) supplies group names, exclusive groups and applicability; its category and
attribute names must match the lists.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgefashion.data.listfile import (
    check_exclusive, iter_rows, parse_bbox, parse_ints, parse_labels, require_file,
)
from edgefashion.data.sample import ABSENT, SPLITS, Sample
from edgefashion.errors import BadInput, DatasetError, SchemaError
from edgefashion.labels import LabelSchema

ANNO_DIRS = ("Anno", "Anno_coarse", "Anno_fine")
SCHEMA_FILE = "edgefashion_schema.json"
# File order of the landmark triples -> our 8 slots (LANDMARK_NAMES), per clothes_type:
# upper: collar L/R, sleeve L/R, hem L/R; lower: waist L/R, hem L/R; full: all 8.
LANDMARK_SLOTS = {1: (0, 1, 2, 3, 6, 7), 2: (4, 5, 6, 7), 3: (0, 1, 2, 3, 4, 5, 6, 7)}


def find_anno_dir(root: str | Path) -> Path:
    """The folder holding ``list_category_img.txt``: Anno/, Anno_coarse/, Anno_fine/ or root."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"DeepFashion-C root {str(root)!r} does not exist or is not a folder")
    for d in [root / n for n in ANNO_DIRS] + [root]:
        if (d / "list_category_img.txt").is_file():
            return d
    raise DatasetError(
        f"{str(root)!r} is not a DeepFashion-C folder: no list_category_img.txt in "
        f"{', '.join(n + '/' for n in ANNO_DIRS)} or the folder itself"
    )


def read_deepfashion_schema(anno: Path) -> LabelSchema:
    """The LabelSchema of an annotation folder (category list + attribute list when present)."""
    cat_file = require_file(anno / "list_category_cloth.txt", "category list")
    attr_file = anno / "list_attr_cloth.txt"
    schema = LabelSchema.from_deepfashion(cat_file, attr_file if attr_file.is_file() else None)
    override = anno / SCHEMA_FILE
    if override.is_file():
        try:
            custom = LabelSchema.load(override)
        except SchemaError as e:
            raise DatasetError(f"{override}: {e}") from e
        if (custom.category_names, custom.attribute_names) != (
            schema.category_names, schema.attribute_names
        ):
            raise DatasetError(
                f"{override} does not match list_category_cloth.txt / list_attr_cloth.txt "
                "(different names or order); delete it or regenerate the dataset"
            )
        schema = custom
    return schema


def read_deepfashion(root: str | Path, split: str | None = None, *,
                     check_images: bool = False) -> tuple[LabelSchema, list[Sample]]:
    """-> (schema, samples) of a DeepFashion-C folder, in list_category_img.txt order.

    split: "train" / "val" / "test" (from Eval/list_eval_partition.txt) or None for all images.
    check_images: also verify that every image file exists (one stat per image).
    Rows of list_attr_img / list_bbox / list_landmarks are parsed (and validated) only for the
    selected images; the full 289k x 1000-label release reads in well under a minute.
    """
    if split is not None and split not in SPLITS:
        raise BadInput(f"split {split!r} must be one of {', '.join(SPLITS)} or None")
    root = Path(root)
    anno = find_anno_dir(root)
    schema = read_deepfashion_schema(anno)
    splits = _read_partition(root, anno, required=split is not None)
    cats = _read_categories(anno / "list_category_img.txt", schema.num_categories)
    names = [n for n in cats if split is None or splits.get(n) == split]
    wanted = set(names)
    attrs = _read_attributes(anno, schema, wanted)
    boxes = _read_optional(anno / "list_bbox.txt", wanted, parse_bbox)
    marks = _read_optional(anno / "list_landmarks.txt", wanted, parse_landmarks)
    base = _image_base(root, names[0]) if names else root
    samples = [
        Sample(base / n, cats[n], attrs.get(n), boxes.get(n), marks.get(n), splits.get(n))
        for n in names
    ]
    if check_images:
        check_files_exist([s.path for s in samples], anno / "list_category_img.txt")
    return schema, samples


def parse_landmarks(text: str, path: Path, lineno: int) -> np.ndarray:
    """``clothes_type variation_type (visibility x y)*`` -> (8, 3) float32 (x, y, visibility).

    Visibility: 0 visible, 1 occluded, 2 truncated; slots the clothes type lacks get -1 (ABSENT).
    Trailing all-zero triples beyond the type's count (padding to 8) are ignored.
    """
    vals = parse_ints(text, path, lineno, "landmark")
    if len(vals) < 2 or (len(vals) - 2) % 3:
        raise DatasetError(
            f"{path}:{lineno}: expected clothes_type variation_type then (visibility x y) triples, "
            f"found {len(vals)} numbers"
        )
    ctype, triples = vals[0], np.asarray(vals[2:], np.float32).reshape(-1, 3)
    if ctype not in LANDMARK_SLOTS:
        raise DatasetError(f"{path}:{lineno}: clothes_type {ctype} must be 1 (upper), 2 (lower) or 3 (full)")
    slots = LANDMARK_SLOTS[ctype]
    if len(triples) > len(slots) and not triples[len(slots):].any():
        triples = triples[: len(slots)]
    if len(triples) != len(slots):
        raise DatasetError(
            f"{path}:{lineno}: clothes_type {ctype} has {len(slots)} landmarks, the row has {len(triples)}"
        )
    if not np.isin(triples[:, 0], (0, 1, 2)).all():
        raise DatasetError(
            f"{path}:{lineno}: landmark visibility {triples[:, 0].astype(int).tolist()} must be "
            "0 (visible), 1 (occluded) or 2 (truncated)"
        )
    out = np.zeros((8, 3), np.float32)
    out[:, 2] = ABSENT
    out[list(slots)] = triples[:, [1, 2, 0]]
    return out


def check_files_exist(paths: list[Path], listed_in: Path) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(repr(str(p)) for p in missing[:3])
        raise DatasetError(
            f"{len(missing)} of {len(paths)} images listed in {listed_in} do not exist, e.g. {shown}; "
            "unpack the images next to Anno/ (img/...)"
        )


# ---------------------------------------------------------------------- helpers
def _read_categories(path: Path, num_categories: int) -> dict[str, int]:
    out = {}
    for lineno, name, rest in iter_rows(require_file(path, "category labels"), "category labels"):
        (cid,) = parse_ints(rest, path, lineno, "category id", 1)
        if not 1 <= cid <= num_categories:
            raise DatasetError(
                f"{path}:{lineno}: category id {cid} is out of range; ids are 1-based line numbers "
                f"of list_category_cloth.txt (1..{num_categories})"
            )
        out[name] = cid - 1
    return out


def _read_partition(root: Path, anno: Path, required: bool) -> dict[str, str]:
    candidates = [root / "Eval" / "list_eval_partition.txt", anno / "list_eval_partition.txt"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        if required:
            raise DatasetError(
                f"cannot select a split: {candidates[0]} does not exist; add the partition file "
                "or pass split=None for all images"
            )
        return {}
    out = {}
    for lineno, name, rest in iter_rows(path, "partition"):
        status = rest.strip()
        if status not in SPLITS:
            raise DatasetError(
                f"{path}:{lineno}: evaluation_status {status!r} must be one of {', '.join(SPLITS)}"
            )
        out[name] = status
    return out


def _read_attributes(anno: Path, schema: LabelSchema, wanted: set[str]) -> dict[str, np.ndarray]:
    """Labels of the ``wanted`` images; a row with two 1s in one exclusive group is a DatasetError."""
    path = anno / "list_attr_img.txt"
    if not path.is_file():
        return {}
    if schema.num_attributes == 0:
        raise DatasetError(
            f"{path} exists but {anno / 'list_attr_cloth.txt'} does not; add the attribute list"
        )
    out, linenos = {}, []
    for lineno, name, rest in iter_rows(path, "attribute labels"):
        if name in wanted:
            out[name] = parse_labels(rest, path, lineno, schema.num_attributes)
            linenos.append(lineno)
    if schema.exclusive_groups and out:
        check_exclusive(np.stack(list(out.values())), linenos, schema, path, str(anno / SCHEMA_FILE))
    return out


def _read_optional(path: Path, wanted: set[str], parse) -> dict:
    if not path.is_file():
        return {}
    return {name: parse(rest, path, lineno) for lineno, name, rest in iter_rows(path) if name in wanted}


def _image_base(root: Path, first: str) -> Path:
    """Images live at root/<name> (our layout) or root/Img/<name> (the release's zip layout)."""
    for base in (root, root / "Img"):
        if (base / first).is_file():
            return base
    return root
