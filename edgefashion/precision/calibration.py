"""Calibration / evaluation images, streamed through the project's own preprocessing, and the cache.

Shared by the int8 ONNX quantizer (ONNX Runtime) and the TensorRT builder's legacy calibrator:

    paths = resolve_images("photos/")                      # folder, list file, glob or list of paths
    calib, held_out = split_images(paths, 256)             # seeded, category-balanced on average
    batches = CalibrationImages(calib, preprocess, batch_size=8)
    for x in batches: ...                                   # x: (B, 3, S, S) float32, made lazily
    reader = batches.ort_reader()                           # an onnxruntime CalibrationDataReader

The cache file (JSON) holds one entry, keyed by a hash of the model bytes + PreprocessConfig + method
+ calibration settings; sections inside it belong to their writer ("onnxruntime": ORT tensor ranges,
the TensorRT builder may add its own). A stale key means "recompute"; so does a different image set
when the caller gives one.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edgefashion.errors import BadInput, DatasetError, ModelFileError
from edgefashion.runtime.images import load_image
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess_batch

CACHE_FORMAT = "edgefashion-calibration-cache"
CACHE_VERSION = 1


# ------------------------------------------------------------------ image lists
def resolve_images(src, what: str = "calibration") -> list[Path]:
    """A folder / list file / glob (str or Path) or a sequence of image paths -> list of paths."""
    from edgefashion.data import read_image_list

    if src is None:
        raise BadInput(f"no {what} images given; pass a folder, a list file, a glob or a list of paths")
    if isinstance(src, (str, Path)):
        if not str(src).strip():
            raise BadInput(f"the {what} image source is an empty string; pass a folder or list file")
        return read_image_list(src)
    paths = [Path(p) for p in src]
    if not paths:
        raise BadInput(f"the {what} image list is empty; pass at least one image")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} {what} image(s) do not exist: "
                           + ", ".join(repr(m) for m in missing[:3]) + (" ..." if len(missing) > 3 else ""))
    return paths


def split_images(paths: Sequence[Path], size: int | None, seed: int = 0
                 ) -> tuple[list[Path], list[Path]]:
    """A seeded random ``size`` of ``paths`` (all when None or larger) and the rest, each sorted."""
    paths = list(paths)
    if size is not None and int(size) < 1:
        raise BadInput(f"calibration size {size} must be at least 1 (or None for all images)")
    if size is None or size >= len(paths):
        return paths, []
    order = np.random.default_rng(seed).permutation(len(paths))
    pick = set(order[: int(size)].tolist())
    return ([p for i, p in enumerate(paths) if i in pick], [p for i, p in enumerate(paths) if i not in pick])


def folder_labels(paths: Sequence[Path], category_names: Sequence[str]) -> np.ndarray | None:
    """(N,) int64 category index from each image's parent folder name; -1 where the folder is not a
    category. None when no image sits in a category folder (the layout does not match the schema)."""
    index = {name: i for i, name in enumerate(category_names)}
    labels = np.array([index.get(Path(p).parent.name, -1) for p in paths], np.int64)
    return labels if (labels >= 0).any() else None


def images_digest(paths: Sequence[Path]) -> str:
    """A hash of the image set: resolved paths, sizes and modification times."""
    h = hashlib.sha256()
    for p in sorted(str(Path(p).resolve()) for p in paths):
        st = os.stat(p)
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


# ------------------------------------------------------------------ batches
class CalibrationImages:
    """Images -> preprocessed batches, made on demand (nothing is held in memory between batches).

    ``len(self)`` is the number of batches; ``self[i]`` the i-th (B, 3, S, S) float32 batch (the last
    one may be smaller); iterating yields them in order.
    """

    def __init__(self, paths: Sequence[Path], preprocess: PreprocessConfig, batch_size: int = 8,
                 input_name: str = "image") -> None:
        if int(batch_size) < 1:
            raise BadInput(f"calibration batch size {batch_size} must be at least 1")
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise BadInput("no calibration images: the image list is empty")
        self.preprocess = preprocess
        self.batch_size = int(batch_size)
        self.input_name = input_name
        # other model inputs (m2fashion's "known"): fed zeros, their neutral value; name -> shape[1:]
        self.extra_inputs: dict[str, tuple[int, ...]] = {}

    @property
    def num_images(self) -> int:
        return len(self.paths)

    def __len__(self) -> int:
        return (len(self.paths) + self.batch_size - 1) // self.batch_size

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} of {len(self)}")
        chunk = self.paths[i * self.batch_size:(i + 1) * self.batch_size]
        return preprocess_batch([load_image(p) for p in chunk], self.preprocess)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def ort_reader(self, progress=None):
        """An ``onnxruntime.quantization.CalibrationDataReader`` over these batches; supports
        ``set_range`` so calibration can collect one batch at a time. ``progress``: a tqdm bar."""
        from onnxruntime.quantization import CalibrationDataReader

        images = self

        class _Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.start, self.end = 0, len(images)

            def get_next(self):
                if self.start >= self.end:
                    return None
                batch = images[self.start]
                self.start += 1
                if progress is not None:
                    progress.update(len(batch))
                feeds = {images.input_name: batch}
                for name, tail in images.extra_inputs.items():
                    feeds[name] = np.zeros((len(batch), *tail), np.float32)
                return feeds

            def __len__(self) -> int:
                return len(images)

            def set_range(self, start_index: int, end_index: int) -> None:
                self.start, self.end = start_index, min(end_index, len(images))

            def rewind(self) -> None:
                self.start, self.end = 0, len(images)

        return _Reader()


# ------------------------------------------------------------------ cache
def model_digest(model: str | Path | bytes) -> str:
    """sha256 of the model file's bytes (or of the given bytes)."""
    h = hashlib.sha256()
    if isinstance(model, (bytes, bytearray, memoryview)):
        h.update(model)
        return h.hexdigest()
    path = Path(model)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist (or is not a file)")
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_key_parts(model: str | Path | bytes, preprocess: PreprocessConfig, method: str,
                    **settings) -> dict:
    """What a calibration result depends on (besides the images), JSON-able."""
    return {"model_sha256": model_digest(model), "preprocess": preprocess.to_dict(),
            "method": str(method), "settings": {k: settings[k] for k in sorted(settings)}}


def cache_key(parts: Mapping) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def read_cache(path: str | Path, key: str, section: str, images: str | None = None) -> dict | None:
    """The cached ``section`` when the file exists, has ``key`` and (when ``images`` is given) was
    computed on the same image set; None otherwise (missing, stale, other images, unreadable)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("key") != key:
        return None
    if images is not None and data.get("images") not in (None, images):
        return None
    found = data.get("sections", {}).get(section)
    return found if isinstance(found, dict) else None


def write_cache(path: str | Path, key: str, parts: Mapping, section: str, payload: Mapping,
                images: str | None = None, num_images: int | None = None) -> Path:
    """Store ``payload`` under ``section``; other sections survive when the key is unchanged."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise BadInput(f"calibration cache {str(path)!r} is not a file; pass a file path")
    old = None
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            old = None
    keep = old.get("sections", {}) if isinstance(old, dict) and old.get("key") == key \
        and old.get("images") in (None, images) else {}
    data = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "key": key, "key_parts": dict(parts),
            "images": images, "num_images": num_images,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sections": {**keep, section: dict(payload)}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".calib_", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
