"""Pose keypoints the user provides (the VSAM attention target): reading and attaching them.

Keypoints are in image pixels, one (x, y, c) row per joint, c a confidence in [0, 1] where 0
means "not detected" (x and y are then ignored). Two formats:

1. One JSON file per image, ``<image stem>_keypoints.json`` -- exactly what OpenPose writes with
   ``--write_json DIR`` -- either next to the image or in one folder for all images::

       {"people": [{"pose_keypoints_2d": [x1, y1, c1, x2, y2, c2, ...]}, ...]}

   (the person with the highest summed confidence is used; no person = no keypoints), or the
   plain form ``{"keypoints": [[x1, y1, c1], [x2, y2, c2], ...]}``.

2. One list file for a whole dataset, whitespace-separated, ``#`` comments and blank lines
   skipped; image paths relative to the list file's folder (or absolute); every row holds the
   same number K of (x, y, c) triples::

       # image            x1    y1   c1    x2    y2   c2  ...
       img/00001.jpg      101.5 40.0 0.93  99.0  80.2 0.88 ...

With 18 (OpenPose COCO) or 25 (OpenPose BODY_25) keypoints VSAM also draws the limbs.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from edgefashion.data.sample import Sample
from edgefashion.errors import DatasetError

JSON_SUFFIX = "_keypoints.json"


def read_keypoints_json(path: str | Path) -> np.ndarray | None:
    """One OpenPose / plain JSON file -> (K, 3) float32, or None when it lists no person."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"keypoints file {str(path)!r} does not exist")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"keypoints file {str(path)!r} could not be read: {e}") from None
    if isinstance(doc, dict) and "keypoints" in doc:
        rows = doc["keypoints"]
        return _check(rows, f"{path}", "'keypoints' must be a list of [x, y, c] rows")
    if isinstance(doc, dict) and isinstance(doc.get("people"), list):
        people = [_check(p.get("pose_keypoints_2d") if isinstance(p, dict) else None,
                         f"{path}: person {i}", "'pose_keypoints_2d' must be a flat list of x, y, c")
                  for i, p in enumerate(doc["people"])]
        return max(people, key=lambda k: float(k[:, 2].sum())) if people else None
    raise DatasetError(f"{path}: expected an OpenPose file ({{\"people\": [...]}}) or "
                       "{\"keypoints\": [[x, y, c], ...]}; see edgefashion.data.keypoints")


def read_keypoints_list(path: str | Path) -> dict[Path, np.ndarray]:
    """A list file -> {absolute image path: (K, 3) float32}."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"keypoints list {str(path)!r} does not exist")
    out: dict[Path, np.ndarray] = {}
    lines: dict[Path, int] = {}
    k = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split("#", 1)[0].split()
            if not parts:
                continue
            where = f"{path}:{lineno}"
            vals = _floats(parts[1:], where)
            if not vals or len(vals) % 3:
                raise DatasetError(f"{where}: expected the image path then x y c triples; found "
                                   f"{len(vals)} numbers after {parts[0]!r} (not a multiple of 3)")
            if k is not None and len(vals) // 3 != k:
                raise DatasetError(f"{where}: {len(vals) // 3} keypoints, but earlier rows have {k}; "
                                   "every row needs the same number of keypoints")
            k = len(vals) // 3
            image = _resolve(parts[0], path.parent)
            if image in out:
                raise DatasetError(f"{where}: image {parts[0]!r} is listed twice (first on line "
                                   f"{lines[image]}); remove the duplicate")
            out[image], lines[image] = _check(vals, where, ""), lineno
    return out


def attach_keypoints(samples: Sequence[Sample], source: str | Path | None = None,
                     require: bool = False) -> list[Sample]:
    """Samples with ``keypoints`` filled in from ``source``.

    source: a list file, a folder of ``<stem>_keypoints.json`` files (OpenPose ``--write_json``),
    or None: a ``<stem>_keypoints.json`` next to each image. Samples without keypoints keep None
    (their attention is then unsupervised), unless ``require``, which makes that a DatasetError.
    """
    source = None if source is None else Path(source)
    if source is not None and not source.exists():
        raise DatasetError(f"keypoints source {str(source)!r} does not exist; give a list file, a "
                           "folder of <image stem>_keypoints.json files, or nothing")
    table = read_keypoints_list(source) if source is not None and source.is_file() else None
    out = []
    for s in samples:
        if table is not None:
            kp = table.get(_resolve(str(s.path), Path.cwd()))
        else:
            folder = source if source is not None else s.path.parent
            f = folder / f"{s.path.stem}{JSON_SUFFIX}"
            kp = read_keypoints_json(f) if f.is_file() else None
        if kp is None and require:
            raise DatasetError(f"no keypoints for image {str(s.path)!r} in "
                               f"{str(source) if source is not None else 'a file next to it'}")
        out.append(dataclasses.replace(s, keypoints=kp) if kp is not None else s)
    return out


def _resolve(name: str, base: Path) -> Path:
    p = Path(name)
    return (p if p.is_absolute() else base / p).resolve()


def _floats(tokens: Sequence[str], where: str) -> list[float]:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not _is_float(t))
        raise DatasetError(f"{where}: {bad!r} is not a number; rows are: image x1 y1 c1 x2 y2 c2 ...") \
            from None


def _is_float(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


def _check(values, where: str, shape_hint: str) -> np.ndarray:
    """Flat [x, y, c, ...] or [[x, y, c], ...] -> validated (K, 3) float32."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: {shape_hint or 'keypoints must be numbers'}") from None
    if arr.ndim == 1 and arr.size % 3 == 0:
        arr = arr.reshape(-1, 3)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise DatasetError(f"{where}: {shape_hint or 'keypoints must be x y c triples'} "
                           f"(got shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise DatasetError(f"{where}: keypoints must be finite numbers (found nan / inf)")
    c = arr[:, 2]
    if c.min() < 0 or c.max() > 1:
        j = int(np.argmax((c < 0) | (c > 1)))
        raise DatasetError(f"{where}: keypoint {j} has confidence {c[j]:g}; confidences must lie "
                           "in [0, 1] (0 = not detected)")
    return arr.astype(np.float32)
