"""Readers for DeepFashion-C label lists and folder-per-category datasets."""
from __future__ import annotations

from pathlib import Path

from edgefashion.errors import DatasetError, SchemaError
from edgefashion.labels.schema import Attribute, Category, LabelSchema

CATEGORY_TYPE_NAMES = {1: "upper", 2: "lower", 3: "full"}
COARSE_GROUPS = ("texture", "fabric", "shape", "part", "style")
FINE_GROUPS = ("texture", "sleeve", "length", "neckline", "fabric", "fit")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# DeepFashion merged these into "Dress"; they never occur in list_category_img.txt.
MERGED_CATEGORIES = ("Cape", "Nightdress", "Shirtdress", "Sundress")


def read_name_type_list(path: str | Path) -> list[tuple[str, int]]:
    """Parse ``list_*_cloth.txt``: optional count line, header, then ``<name> <type>`` lines.

    Names may contain spaces, so the type is the last whitespace token.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"label list {str(path)!r} does not exist")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    if lines and lines[0].split()[0].isdigit() and len(lines[0].split()) == 1:
        lines = lines[1:]
    if lines and lines[0].split()[-1].endswith("_type"):
        lines = lines[1:]
    out = []
    for n, ln in enumerate(lines, 1):
        parts = ln.rsplit(None, 1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DatasetError(f"{path}: entry {n} {ln!r} is not '<name> <type>'")
        out.append((parts[0], int(parts[1])))
    return out


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


def list_category_folders(root: str | Path) -> list[Path]:
    """Sub-folders of ``root`` that hold at least one image, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {str(root)!r} does not exist")
    folders = [
        d for d in sorted(root.iterdir())
        if d.is_dir() and any(f.suffix.lower() in IMAGE_SUFFIXES for f in d.iterdir())
    ]
    if not folders:
        raise DatasetError(
            f"{str(root)!r} has no sub-folders with images; expected one folder per category"
        )
    return folders


def schema_from_folders(root: str | Path) -> LabelSchema:
    """Categories = the image sub-folders of ``root`` (no attributes)."""
    return LabelSchema(tuple(Category(d.name) for d in list_category_folders(root)))
