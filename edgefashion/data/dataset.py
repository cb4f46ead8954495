"""PyTorch dataset over Samples, using the one shared preprocessing (the only torch module here).

Without augmentation an item's "image" is exactly
``preprocess(load_image(sample.path), cfg, sample.bbox)`` -- the tensor every runtime computes.
Training augmentation (horizontal flip) acts on the uint8 image before that call.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from edgefashion.data.sample import Sample
from edgefashion.errors import BadInput, DatasetError, EdgeFashionError, ImageDecodeError
from edgefashion.runtime.images import load_image
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess


class GarmentDataset(Dataset):
    """Samples -> dicts of tensors.

    Item ``i``: {"image": float32 (3, S, S), "category": int64 (), "attributes": float32 (A,)
    holding the raw 1 / -1 / 0 labels (zeros when a sample has none), "index": i}.
    use_bbox: crop each sample's bbox (when it has one) before resizing, as the Predictor does
    when given a box. train: flip horizontally with probability ``flip_prob`` (torch's RNG, so
    DataLoader workers and ``torch.manual_seed`` make it reproducible).
    num_attributes: A; inferred from the samples when None (0 when none has attributes).
    """

    def __init__(self, samples: Sequence[Sample], preprocess_cfg: PreprocessConfig,
                 train: bool = False, flip_prob: float = 0.5, use_bbox: bool = True,
                 num_attributes: int | None = None) -> None:
        if not 0.0 <= float(flip_prob) <= 1.0:
            raise BadInput(f"flip_prob {flip_prob} must be in [0, 1]")
        if not isinstance(preprocess_cfg, PreprocessConfig):
            raise BadInput(f"preprocess_cfg must be a PreprocessConfig, got {type(preprocess_cfg).__name__}")
        self.samples = list(samples)
        self.cfg, self.train, self.use_bbox = preprocess_cfg, train, use_bbox
        self.flip_prob = float(flip_prob)
        self.num_attributes = _num_attributes(self.samples, num_attributes)

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
        if self.train and self.flip_prob > 0 and float(torch.rand(())) < self.flip_prob:
            img = np.ascontiguousarray(img[:, ::-1])
            if bbox is not None:
                w = img.shape[1]
                bbox = (w - bbox[2], bbox[1], w - bbox[0], bbox[3])
        try:
            x = preprocess(img, self.cfg, bbox)
        except BadInput as e:
            raise DatasetError(f"sample {index} ({s.path}): {e}") from None
        if s.attributes is not None:
            attrs = torch.from_numpy(s.attributes.astype(np.float32))
        else:
            attrs = torch.zeros(self.num_attributes, dtype=torch.float32)
        return {"image": torch.from_numpy(x), "category": torch.tensor(s.category, dtype=torch.int64),
                "attributes": attrs, "index": index}


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
