"""One labelled image: the record every reader returns and every dataset consumes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgefashion.errors import BadInput, SchemaError
from edgefashion.labels.landmarks import LANDMARK_NAMES  # noqa: F401  (re-exported)

SPLITS = ("train", "val", "test")

# Landmark visibility codes: DeepFashion-C's three, plus ABSENT for a slot with no point
# (not defined for the garment type, or 0 0 in the fine-attribute files).
VISIBLE, OCCLUDED, TRUNCATED, ABSENT = 0, 1, 2, -1


@dataclass(frozen=True, eq=False)
class Sample:
    """A labelled image.

    path: the image file. category: index into the schema's categories, -1 when unknown.
    attributes: (A,) int8, 1 = positive, -1 = negative, 0 = unknown; None when unlabelled.
    bbox: (x1, y1, x2, y2) pixels of the garment, or None. landmarks: (8, 3) float32 rows
    (x, y, visibility) in LANDMARK_NAMES order, visibility one of VISIBLE / OCCLUDED / TRUNCATED /
    ABSENT, or None. split: "train" / "val" / "test" / None. keypoints: (K, 3) float32 rows
    (x, y, confidence) in image pixels from a pose detector (confidence 0 = not detected), or None
    (see data/keypoints.py).
    Arrays are read-only; equality compares every field (arrays by value).
    """

    path: Path
    category: int = -1
    attributes: np.ndarray | None = None
    bbox: tuple[float, float, float, float] | None = None
    landmarks: np.ndarray | None = None
    split: str | None = None
    keypoints: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "category", int(self.category))
        if self.category < -1:
            raise BadInput(f"{self.path}: category {self.category} must be >= 0, or -1 for unknown")
        object.__setattr__(self, "attributes", _attributes(self.attributes, self.path))
        object.__setattr__(self, "bbox", _bbox(self.bbox, self.path))
        object.__setattr__(self, "landmarks", _landmarks(self.landmarks, self.path))
        object.__setattr__(self, "keypoints", _keypoints(self.keypoints, self.path))
        if self.split is not None and self.split not in SPLITS:
            raise BadInput(f"{self.path}: split {self.split!r} must be one of {', '.join(SPLITS)} or None")

    @property
    def name(self) -> str:
        return self.path.name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sample):
            return NotImplemented
        return (
            (self.path, self.category, self.bbox, self.split)
            == (other.path, other.category, other.bbox, other.split)
            and _same(self.attributes, other.attributes)
            and _same(self.landmarks, other.landmarks)
            and _same(self.keypoints, other.keypoints)
        )

    def __hash__(self) -> int:
        return hash((self.path, self.category, self.bbox, self.split))


def attribute_matrix(samples: Sequence["Sample"], num_attributes: int) -> np.ndarray:
    """(N, A) int8 labels of 1 / -1 / 0; samples without attributes are all-unknown (0).
    SchemaError when a sample holds another number of labels (data read with another schema)."""
    out = np.zeros((len(samples), num_attributes), np.int8)
    for i, s in enumerate(samples):
        if s.attributes is not None:
            if np.shape(s.attributes) != (num_attributes,):
                raise SchemaError(f"{str(s.path)!r} has {np.size(s.attributes)} attribute labels but the "
                                  f"schema has {num_attributes} attributes: the data is labelled with "
                                  "another attribute list; use a model trained on this data's labels")
            out[i] = s.attributes
    return out


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _attributes(values, path: Path) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values)
    out = arr.astype(np.int8)  # always a copy: the sample owns (and freezes) its labels
    if arr.ndim != 1 or (arr.size and (
        out.min() < -1 or out.max() > 1 or (arr.dtype != np.int8 and not np.array_equal(out, arr))
    )):
        raise BadInput(f"{path}: attributes must be a 1-D array of 1 / -1 / 0, got {arr!r:.80}")
    out.setflags(write=False)
    return out


def _bbox(values: Sequence[float] | None, path: Path) -> tuple[float, float, float, float] | None:
    if values is None:
        return None
    box = tuple(float(v) for v in values)
    if len(box) != 4 or not (box[2] > box[0] and box[3] > box[1]):
        raise BadInput(f"{path}: bbox {tuple(values)} must be (x1, y1, x2, y2) with x2 > x1 and y2 > y1")
    return box  # type: ignore[return-value]


def _landmarks(values, path: Path) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float32)
    if arr.shape != (8, 3):
        raise BadInput(f"{path}: landmarks must be (8, 3) rows of (x, y, visibility), got {arr.shape}")
    if not np.isin(arr[:, 2], (VISIBLE, OCCLUDED, TRUNCATED, ABSENT)).all():
        raise BadInput(f"{path}: landmark visibility {arr[:, 2].tolist()} must be 0, 1, 2 or -1")
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def _keypoints(values, path: Path) -> np.ndarray | None:
    if values is None:
        return None
    try:
        arr = np.array(values, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise BadInput(f"{path}: keypoints must be (K, 3) rows of (x, y, confidence): {e}") from None
    if arr.ndim != 2 or arr.shape[1] != 3 or not np.isfinite(arr).all():
        raise BadInput(f"{path}: keypoints must be finite (K, 3) rows of (x, y, confidence), "
                       f"got shape {arr.shape}")
    if arr.size and (arr[:, 2].min() < 0 or arr[:, 2].max() > 1):
        raise BadInput(f"{path}: keypoint confidences {arr[:, 2].tolist()} must lie in [0, 1]")
    arr.setflags(write=False)
    return arr
