"""Calibration for TensorRT's legacy INT8 path: whole batches of real photos, and the shared cache."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from edgefashion.engine.calibrator import (CACHE_SECTION, CalibrationBatches, TrtCalibrationCache,
                                           decode_trt_cache, encode_trt_cache, is_trt_cache, trt_cache_header,
                                           trt_version_int)
from edgefashion.errors import BadInput, ModelFileError
from edgefashion.runtime.images import load_image
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess_batch


@pytest.mark.needs_data
def test_whole_batches_of_real_photos_through_the_project_preprocessing(real_photos, prep_cfg):
    assert len(real_photos) == 20
    batches = CalibrationBatches(real_photos, prep_cfg, batch_size=8)
    assert (len(batches), batches.dropped, batches.shape) == (2, 4, (8, 3, 64, 64))
    got = list(batches)
    assert [b.shape for b in got] == [(8, 3, 64, 64)] * 2 and all(b.dtype == np.float32 for b in got)
    assert all(b.flags.c_contiguous for b in got)
    want = preprocess_batch([load_image(p) for p in batches.images[:8]], prep_cfg)
    np.testing.assert_array_equal(got[0], want)  # exactly the Predictor's preprocessing
    assert list(map(len, CalibrationBatches(real_photos[:3], prep_cfg, 8))) == [3]  # batch shrinks


@pytest.mark.needs_data
def test_max_images_is_a_seeded_spread_not_the_first_folder(real_photos, prep_cfg):
    a = CalibrationBatches(real_photos, prep_cfg, 4, max_images=8)
    b = CalibrationBatches(real_photos, prep_cfg, 4, max_images=8)
    assert a.images == b.images and len(a.images) == 8
    assert len({p.parent.name for p in a.images}) > 2  # the first 8 files would be 4 categories
    with pytest.raises(BadInput, match="at least 1"):
        CalibrationBatches(real_photos, prep_cfg, 0)


def test_trt_cache_format_round_trip():
    assert trt_version_int("8.6.1") == 8601 and trt_version_int("8.5.2.2") == 8502
    assert trt_version_int("10.3.0") == 100300 and trt_version_int("11.4.0.106") == 110400
    header = trt_cache_header("8.6.1")
    assert header == "TRT-8601-EntropyCalibration2"
    scales = {"image": 1.0 / 127, "/conv1/Conv_output_0": 0.0421, "category_logits": 3.5}
    data = encode_trt_cache(header, scales)
    assert data.splitlines()[1] == b"image: 3c010204"  # the float32 bits of 1/127, as trtexec reads them
    h, back = decode_trt_cache(data)
    assert h == header and back.keys() == scales.keys()
    for k, v in scales.items():
        assert back[k] == struct.unpack(">f", struct.pack(">f", v))[0]
    with pytest.raises(ModelFileError, match="header"):
        decode_trt_cache(b"image: 3c010204\n")
    with pytest.raises(ModelFileError, match="not 'tensor: <hex>'"):
        decode_trt_cache(b"TRT-8601-EntropyCalibration2\nimage 3c01\n")
    with pytest.raises(BadInput, match="positive and finite"):
        encode_trt_cache(header, {"x": float("nan")})


def test_calibration_lives_in_the_shared_json_cache_and_is_invalidated(tiny_onnx, tmp_path, prep_cfg):
    path = tmp_path / "calib.json"
    data = encode_trt_cache(trt_cache_header("8.6.1"), {"image": 0.02})
    cache = TrtCalibrationCache(path, tiny_onnx, prep_cfg, "8.6.1", batch_size=8)
    assert cache.read() is None and not cache.native
    cache.write(data)
    stored = json.loads(path.read_text())
    assert stored["format"] == "edgefashion-calibration-cache" and CACHE_SECTION in stored["sections"]
    assert TrtCalibrationCache(path, tiny_onnx, prep_cfg, "8.6.1.6", 8).read() == data  # same major.minor
    assert TrtCalibrationCache(path, tiny_onnx, prep_cfg, "10.3.0", 8).read() is None
    assert TrtCalibrationCache(path, tiny_onnx, PreprocessConfig(input_size=64, resize="letterbox"),
                               "8.6.1", 8).read() is None
    assert TrtCalibrationCache(path, tiny_onnx, prep_cfg, "8.6.1", 4).read() is None
    changed = tmp_path / "changed.onnx"
    changed.write_bytes(tiny_onnx.read_bytes() + b"\0")
    assert TrtCalibrationCache(path, changed, prep_cfg, "8.6.1", 8).read() is None
    with pytest.raises(ModelFileError):
        cache.write(b"garbage")


def test_a_native_tensorrt_cache_file_is_used_as_such(tiny_onnx, tmp_path, prep_cfg):
    path = tmp_path / "calibration.cache"  # e.g. written by trtexec --calib
    data = encode_trt_cache(trt_cache_header("8.6.1"), {"image": 0.02})
    path.write_bytes(data)
    cache = TrtCalibrationCache(path, tiny_onnx, prep_cfg, "8.6.1", 8)
    assert is_trt_cache(path) and cache.native and cache.read() == data
    newer = encode_trt_cache(trt_cache_header("8.6.1"), {"image": 0.03})
    cache.write(newer)
    assert path.read_bytes() == newer
