"""The tensor the Predictor feeds a model equals the one the training loader makes (one preprocessing)."""
from __future__ import annotations

import numpy as np
import pytest

from edgefashion.runtime.images import load_image

pytestmark = pytest.mark.needs_data


def test_predictor_tensor_equals_training_tensor(onnx_predictor, real_photos, prep_cfg):
    import edgefashion.data as data  # a failure to import is a failure, never a skip
    from edgefashion.data.sample import Sample

    assert onnx_predictor.preprocess_config == prep_cfg  # read back from the ONNX metadata
    h, w = load_image(real_photos[1]).shape[:2]
    samples = [Sample(real_photos[0], 0), Sample(real_photos[1], 1, bbox=(w * 0.2, h * 0.1, w * 0.8, h))]
    samples += [Sample(p, 2) for p in real_photos[2:6]]
    ds = data.GarmentDataset(samples, prep_cfg, train=False)
    for i, s in enumerate(samples):
        item = ds[i]["image"]
        got = item.numpy() if hasattr(item, "numpy") else np.asarray(item)
        expected = onnx_predictor.preprocess(load_image(s.path), s.bbox)
        assert got.dtype == np.float32 and got.shape == expected.shape == (3, 64, 64)
        np.testing.assert_array_equal(got, expected, err_msg=str(s.path))
