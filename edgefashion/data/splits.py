"""A dataset root and a split name -> (schema, samples), whatever the layout of the folder.

Used by training, evaluation and QAT alike (the CLI and ``precision.qat``), so it lives with the data
readers rather than in the CLI.
"""
from __future__ import annotations

from pathlib import Path

from edgefashion.errors import DatasetError

FOLDER_SPLITS = {"train": ("train",), "val": ("validation", "val"), "test": ("test",)}


def detect_layout(root: Path) -> str:
    """'deepfashion' (Anno/ + Eval/), 'fine_attr' (split/<train|val|test>.txt), 'fashion-product'
    (styles.csv) or 'folders' (one per category)."""
    if not root.is_dir():
        raise DatasetError(f"dataset {str(root)!r} does not exist")
    if (root / "Anno").is_dir() or (root / "Anno_coarse").is_dir():
        return "deepfashion"
    if any((root / "split" / f"{s}.txt").is_file() for s in FOLDER_SPLITS):
        return "fine_attr"
    if (root / "styles.csv").is_file():
        return "fashion-product"
    return "folders"


def resolve_split(root: str | Path, split: str | None, layout: str = "auto") -> str:
    """The split to read: ``split``, or when None 'val', except 'all' for a folder with no training
    part (fine_attr without split/train.txt, folders without train/). A fashion-product folder
    cannot tell (styles.csv has no split column): 'test' there means 'all', with a note."""
    root = Path(root)
    layout = detect_layout(root) if layout == "auto" else layout
    if split is None:
        sdir = root / "split" if (root / "split").is_dir() else root
        no_train = ((layout == "fine_attr" and not (sdir / "train.txt").is_file())
                    or (layout == "folders" and not (root / "train").is_dir()))
        return "all" if no_train else "val"
    if split == "test" and layout == "fashion-product":
        print(f"note: {root / 'styles.csv'} has no split column, so --split test reads every row "
              "(the same as --split all); use --split all for a separate test folder")
        return "all"
    return split


def load_split(root: str | Path, split: str | None, layout: str = "auto", schema=None):
    """-> (schema, samples) of ``split`` ('train' / 'val' / 'test' / 'all', None: resolve_split)
    from a dataset root.

    DeepFashion-C: the split from Eval/list_eval_partition.txt. Folders: ``root/train`` and
    ``root/validation`` (or ``root/val``) when they exist, else ``root`` itself is the split.
    Fashion-product: a seeded split of styles.csv. 'all': every image of the folder (every
    partition, every split file, every split sub-folder, every row).
    """
    from edgefashion import data

    root = Path(root)
    layout = detect_layout(root) if layout == "auto" else layout
    split = resolve_split(root, split, layout)
    whole = split == "all"
    if layout == "deepfashion":
        return data.read_deepfashion(root, split=None if whole else split)
    if layout == "fine_attr":
        return data.read_fine_attr(root, None if whole else split)
    if layout == "fashion-product":
        return data.read_fashion_product(root, split=None if whole else split, schema=schema)
    if whole:
        return _read_all_folders(root, schema)
    for n in FOLDER_SPLITS[split]:
        if (root / n).is_dir():
            return data.read_folders(root / n, schema=schema)
    return data.read_folders(root, schema=schema)


def _read_all_folders(root: Path, schema=None):
    """Every split sub-folder (train/, validation/ or val/, test/) when there are any, else the
    category folders of ``root`` itself; the schema is the first folder's unless one is given."""
    from edgefashion import data

    parts = [(root / n, s) for s, names in FOLDER_SPLITS.items() for n in names if (root / n).is_dir()]
    if not parts:
        return data.read_folders(root, schema=schema)
    samples = []
    for folder, s in parts:
        schema, got = data.read_folders(folder, schema=schema, split=s)
        samples.extend(got)
    return schema, samples


def subsample(samples: list, n: int | None, seed: int) -> list:
    """At most ``n`` of the samples, drawn with ``seed`` (``train --max-train``; ``baseline
    --max-train`` with the same seed fits the probe on the same photos; QAT's calibration images).
    None or 0: all of them."""
    import random

    if not n:
        return samples
    if n < 0:
        raise DatasetError(f"--max-train {n} must be a positive number of training images")
    return random.Random(seed).sample(samples, min(n, len(samples)))
