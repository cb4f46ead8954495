"""Readers for DeepFashion-C label lists and folder-per-category datasets: names and types only.

The schema builders (``LabelSchema.from_deepfashion`` / ``from_folders``) live in schema.py and call
these readers; this module knows nothing of LabelSchema, so the two files import one way only.
"""
from __future__ import annotations

from pathlib import Path

from edgefashion.errors import DatasetError

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
