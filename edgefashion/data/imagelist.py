"""Image lists for calibration, evaluation and batch prediction: a folder, a list file or a glob."""
from __future__ import annotations

import glob
from pathlib import Path

from edgefashion.errors import DatasetError
from edgefashion.labels.deepfashion import IMAGE_SUFFIXES

GLOB_CHARS = "*?["


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def read_image_list(src: str | Path) -> list[Path]:
    """Resolve ``src`` to a list of image paths.

    - a folder: every image below it (recursive, image suffixes, hidden files skipped), sorted;
    - an image file: just that image;
    - a text file: one path per line, relative to the file's folder unless absolute; blank lines
      and lines starting with '#' are skipped; order and duplicates are kept;
    - a glob pattern (``photos/**/*.jpg``): the matching image files, sorted.
    Raises DatasetError when nothing is found or a listed file does not exist.
    """
    path = Path(src).expanduser()
    if path.is_dir():
        out = sorted(p for p in path.rglob("*") if is_image_file(p))
        where = f"folder {str(path)!r} (searched recursively for {', '.join(IMAGE_SUFFIXES)})"
    elif path.is_file():
        out = [path] if path.suffix.lower() in IMAGE_SUFFIXES else _read_list_file(path)
        where = f"list file {str(path)!r}"
    elif any(c in str(src) for c in GLOB_CHARS):
        out = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if is_image_file(Path(p)))
        where = f"glob pattern {str(src)!r}"
    else:
        raise DatasetError(
            f"image list {str(src)!r} does not exist; pass a folder, a text file with one path per "
            "line, or a glob pattern"
        )
    if not out:
        raise DatasetError(f"no images found in {where}")
    return out


def _read_list_file(path: Path) -> list[Path]:
    base, out, missing = path.parent, [], []
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        p = Path(entry).expanduser()
        p = p if p.is_absolute() else base / p
        if p.is_file():
            out.append(p)
        else:
            missing.append(f"line {lineno}: {str(p)!r}{' (a folder)' if p.is_dir() else ''}")
    if missing:
        shown = "; ".join(missing[:3]) + (f"; and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DatasetError(
            f"{path}: {len(missing)} listed image(s) do not exist ({shown}); paths are relative "
            "to the list file's folder"
        )
    return out
