"""PyTorch dataset over Samples, using the one shared preprocessing (the only torch module here).

Without augmentation an item's "image" is exactly
``preprocess(load_image(sample.path), cfg, sample.bbox)`` -- the tensor every runtime computes.
Training augmentation acts on the uint8 image and on the box handed to that call: a horizontal
flip, and with an ``AugmentConfig`` (data/augment.py) a random resized crop / box jitter (a random
region passed to ``preprocess`` as its box) and colour jitter of that region's pixels; landmarks
and keypoints follow the same crop / resize / flip (``runtime.preprocess.image_to_input``).
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from edgefashion.data.augment import AugmentConfig, color_jitter, random_region
from edgefashion.data.sample import ABSENT, LANDMARK_NAMES, VISIBLE, Sample
from edgefashion.errors import BadInput, DatasetError, EdgeFashionError, ImageDecodeError
from edgefashion.runtime.images import load_image
from edgefashion.runtime.preprocess import PreprocessConfig, crop_box, image_to_input, preprocess

# The landmark slot each slot becomes under a horizontal flip (*_left <-> *_right).
_SIDE = {"left": "right", "right": "left"}
LANDMARK_FLIP = tuple(LANDMARK_NAMES.index("_".join(n.split("_")[:-1] + [_SIDE[n.split("_")[-1]]]))
                      for n in LANDMARK_NAMES)


class GarmentDataset(Dataset):
    """Samples -> dicts of tensors.

    Item ``i``: {"image": float32 (3, S, S), "category": int64 (), "attributes": float32 (A,)
    holding the raw 1 / -1 / 0 labels (zeros when a sample has none), "index": i}; plus, when
    any sample has them, "landmarks" float32 (8, 3) and / or "keypoints" float32 (K, 3): x, y
    normalised to the model input (0 = left / top edge, 1 = right / bottom edge of the tensor) and
    a weight, 1.0 for a usable point (landmark VISIBLE / keypoint confidence > 0, and inside the
    input) else 0.0; all-zero rows for absent points and for samples without any. A flip mirrors
    x and swaps the left / right landmark slots (keypoints keep their order: the pose heatmap
    built from them is the union of all joints and limbs, which mirrors as it is).
    use_bbox: crop each sample's bbox (when it has one) before resizing, as the Predictor does
    when given a box. train: flip horizontally with probability ``flip_prob`` (torch's RNG, so
    DataLoader workers and ``torch.manual_seed`` make it reproducible).
    num_attributes: A; inferred from the samples when None (0 when none has attributes).
    augment: with ``train``, a random region (random resized crop / box jitter) and colour jitter
    per item (torch's RNG too); None keeps the flip-only training.
    """

    def __init__(self, samples: Sequence[Sample], preprocess_cfg: PreprocessConfig,
                 train: bool = False, flip_prob: float = 0.5, use_bbox: bool = True,
                 num_attributes: int | None = None, augment: AugmentConfig | None = None) -> None:
        if not 0.0 <= float(flip_prob) <= 1.0:
            raise BadInput(f"flip_prob {flip_prob} must be in [0, 1]")
        if not isinstance(preprocess_cfg, PreprocessConfig):
            raise BadInput(f"preprocess_cfg must be a PreprocessConfig, got {type(preprocess_cfg).__name__}")
        self.samples = list(samples)
        self.cfg, self.train, self.use_bbox = preprocess_cfg, train, use_bbox
        self.flip_prob = float(flip_prob)
        if augment is not None and not isinstance(augment, AugmentConfig):
            raise BadInput(f"augment must be an AugmentConfig or None, got {type(augment).__name__}")
        self.augment = augment if train else None
        self.num_attributes = _num_attributes(self.samples, num_attributes)
        self.has_landmarks = any(s.landmarks is not None for s in self.samples)
        self.num_keypoints = _num_keypoints(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[np.ndarray, tuple | None]:
        """The decoded BGR image and the box to crop (None without one / with use_bbox off)."""
        s = self.samples[index]
        try:
            img = load_image(s.path)
        except EdgeFashionError:
            raise
        except Exception as e:  # OpenCV / OS errors: one line naming the file, not a deep traceback
            raise ImageDecodeError(f"image {str(s.path)!r} (sample {index}) could not be read: {e}") from None
        return img, (s.bbox if self.use_bbox else None)

    def __getitem__(self, index: int) -> dict:
        s = self.samples[index]
        img, bbox = self.load(index)
        flipped = self.train and self.flip_prob > 0 and float(torch.rand(())) < self.flip_prob
        if flipped:
            img = np.ascontiguousarray(img[:, ::-1])
            if bbox is not None:
                w = img.shape[1]
                bbox = (w - bbox[2], bbox[1], w - bbox[0], bbox[3])
        try:
            x, bbox = self._input(img, bbox)
        except BadInput as e:
            raise DatasetError(f"sample {index} ({s.path}): {e}") from None
        if s.attributes is not None:
            attrs = torch.from_numpy(s.attributes.astype(np.float32))
        else:
            attrs = torch.zeros(self.num_attributes, dtype=torch.float32)
        item = {"image": torch.from_numpy(x), "category": torch.tensor(s.category, dtype=torch.int64),
                "attributes": attrs, "index": index}
        if self.has_landmarks:
            item["landmarks"] = torch.from_numpy(self.landmarks_to_input(s, img.shape, bbox, flipped))
        if self.num_keypoints is not None:
            item["keypoints"] = torch.from_numpy(self.keypoints_to_input(s, img.shape, bbox, flipped))
        return item

    def _input(self, img: np.ndarray, bbox) -> tuple[np.ndarray, tuple | None]:
        """The model input and the box it was cropped to (the augmented region when augmenting)."""
        aug = self.augment
        if aug is None:
            return preprocess(img, self.cfg, bbox), bbox
        # a numpy generator seeded from torch's RNG: reproducible under torch.manual_seed / workers
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ())))
        region = random_region(img.shape, bbox, aug, rng)
        if not aug.has_color:
            return preprocess(img, self.cfg, region), region
        # preprocess(img, cfg, box) == preprocess(crop_box(img, box, margin), cfg, None): jitter the
        # region's pixels only, then the shared path resizes and normalises them
        patch = color_jitter(crop_box(img, region, self.cfg.bbox_margin), aug, rng)
        return preprocess(patch, self.cfg, None), region

    def landmarks_to_input(self, s: Sample, shape: tuple, bbox, flipped: bool = False) -> np.ndarray:
        """``s.landmarks`` (8, 3) in image pixels -> (8, 3) (x, y, weight) in input coordinates.

        shape / bbox: of the (possibly flipped) image and box that were preprocessed.
        """
        if s.landmarks is None:
            return np.zeros((len(LANDMARK_NAMES), 3), np.float32)
        out = self._to_input(s.landmarks, shape, bbox, flipped, s.landmarks[:, 2] == VISIBLE)
        out[s.landmarks[:, 2] == ABSENT] = 0.0
        return out[list(LANDMARK_FLIP)] if flipped else out

    def keypoints_to_input(self, s: Sample, shape: tuple, bbox, flipped: bool = False) -> np.ndarray:
        """``s.keypoints`` (K, 3) in image pixels -> (K, 3) (x, y, weight) in input coordinates."""
        if s.keypoints is None:
            return np.zeros((self.num_keypoints or 0, 3), np.float32)
        out = self._to_input(s.keypoints, shape, bbox, flipped, s.keypoints[:, 2] > 0)
        out[s.keypoints[:, 2] <= 0] = 0.0
        return out

    def _to_input(self, points: np.ndarray, shape: tuple, bbox, flipped: bool,
                  usable: np.ndarray) -> np.ndarray:
        xy = np.array(points[:, :2], np.float32)
        if flipped:  # the image was mirrored: x -> W - x (continuous pixel coordinates)
            xy[:, 0] = shape[1] - xy[:, 0]
        uv = image_to_input(xy, shape, self.cfg, bbox)
        inside = ((uv >= 0.0) & (uv <= 1.0)).all(axis=1)
        return np.concatenate([uv, (usable & inside).astype(np.float32)[:, None]], axis=1)


@contextmanager
def keeps_sigchld_handler() -> Iterator[None]:
    """Restore the process's SIGCHLD handler on exit.

    torch installs its own SIGCHLD handler the first time a multi-worker DataLoader starts and
    leaves it for the life of the process; with OpenVINO loaded later in the same interpreter, the
    next child process to exit crashed it (SIGSEGV). Training runs inside this scope.
    """
    if not hasattr(signal, "SIGCHLD") or threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.getsignal(signal.SIGCHLD)
    try:
        yield
    finally:
        signal.signal(signal.SIGCHLD, previous)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, num_workers: int = 0,
                seed: int = 0, drop_last: bool = False, pin_memory: bool = False) -> DataLoader:
    """A DataLoader whose shuffling (and worker flip seeds) follow ``seed``."""
    if int(batch_size) < 1:
        raise BadInput(f"batch_size {batch_size} must be >= 1")
    if int(num_workers) < 0:
        raise BadInput(f"num_workers {num_workers} must be >= 0")
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return DataLoader(dataset, batch_size=int(batch_size), shuffle=shuffle, num_workers=int(num_workers),
                      generator=gen, drop_last=drop_last, pin_memory=pin_memory,
                      persistent_workers=int(num_workers) > 0)


def _num_keypoints(samples: list[Sample]) -> int | None:
    """K when some samples have keypoints (all must have the same K), else None."""
    sizes = {len(s.keypoints) for s in samples if getattr(s, "keypoints", None) is not None}
    if len(sizes) > 1:
        raise DatasetError(f"samples have keypoint sets of different sizes {sorted(sizes)}; "
                           "use one pose format (e.g. all OpenPose BODY_25) for a dataset")
    return sizes.pop() if sizes else None


def _num_attributes(samples: list[Sample], given: int | None) -> int:
    sizes = {len(s.attributes) for s in samples if s.attributes is not None}
    if len(sizes) > 1:
        raise DatasetError(f"samples have attribute vectors of different lengths {sorted(sizes)}; "
                           "read them with one schema")
    if given is not None:
        if sizes and sizes != {int(given)}:
            raise DatasetError(f"num_attributes {given} disagrees with the samples' {sizes.pop()} labels")
        return int(given)
    return sizes.pop() if sizes else 0
