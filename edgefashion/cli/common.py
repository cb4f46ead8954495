"""Helpers shared by the subcommands: loading datasets by layout, parsing key=value options."""
from __future__ import annotations

from pathlib import Path

from edgefashion.errors import BadInput, DatasetError


def parse_options(items: list[str] | None) -> dict:
    """``["width=0.25", "stages=1,2,4", "batch_norm=true"]`` -> typed dict."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise BadInput(f"option {item!r} must look like key=value")
        key, value = item.split("=", 1)
        out[key.strip().replace("-", "_")] = _typed(value.strip())
    return out


def _typed(v: str):
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    if "," in v:
        return tuple(_typed(x) for x in v.split(",") if x)
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def detect_layout(root: Path) -> str:
    """'deepfashion' (Anno/ + Eval/), 'fine_attr' (split/*.txt) or 'folders' (one per category)."""
    if not root.is_dir():
        raise DatasetError(f"dataset {str(root)!r} does not exist")
    if (root / "Anno").is_dir() or (root / "Anno_coarse").is_dir():
        return "deepfashion"
    if (root / "split" / "train.txt").is_file():
        return "fine_attr"
    if (root / "styles.csv").is_file():
        return "fashion-product"
    return "folders"


def load_split(root: str | Path, split: str, layout: str = "auto", schema=None):
    """-> (schema, samples) of ``split`` ('train' / 'val' / 'test') from a dataset root.

    DeepFashion-C: the split from Eval/list_eval_partition.txt. Folders: ``root/train`` and
    ``root/validation`` (or ``root/val``) when they exist, else ``root`` itself is the split.
    """
    from edgefashion import data

    root = Path(root)
    layout = detect_layout(root) if layout == "auto" else layout
    if layout == "deepfashion":
        return data.read_deepfashion(root, split=split)
    if layout == "fine_attr":
        return data.read_fine_attr(root, split)
    if layout == "fashion-product":
        return data.read_fashion_product(root, split=split, schema=schema)
    names = {"train": ("train",), "val": ("validation", "val"), "test": ("test",)}[split]
    for n in names:
        if (root / n).is_dir():
            return data.read_folders(root / n, schema=schema)
    return data.read_folders(root, schema=schema)
