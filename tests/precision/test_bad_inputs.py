"""Bad inputs give typed errors that name the value."""
from __future__ import annotations

import pytest

from edgefashion.errors import BadInput, DatasetError, MissingMetadata, ModelFileError
from edgefashion.precision import quantize_onnx
from edgefashion.precision.calibration import CalibrationImages, resolve_images, split_images

pytestmark = pytest.mark.needs_data


def test_missing_calibration_folder_names_it(onnx_path, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match=str(missing)):
        quantize_onnx(onnx_path, tmp_path / "o.onnx", "int8", calib=missing, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no images found in folder .*empty"):
        quantize_onnx(onnx_path, tmp_path / "o.onnx", "int8", calib=empty, progress=False)
    assert not (tmp_path / "o.onnx").exists()


def test_empty_or_missing_image_lists(onnx_path, tmp_path, calib_photos):
    with pytest.raises(BadInput, match="calibration image list is empty"):
        quantize_onnx(onnx_path, tmp_path / "o.onnx", "int8", calib=[], progress=False)
    with pytest.raises(DatasetError, match="gone.jpg"):
        resolve_images([calib_photos[0], tmp_path / "gone.jpg"])
    listing = tmp_path / "list.txt"
    listing.write_text("a.jpg\n")
    with pytest.raises(DatasetError, match="a.jpg"):
        quantize_onnx(onnx_path, tmp_path / "o.onnx", "fp16", eval_images=listing, progress=False)
    with pytest.raises(BadInput, match="calibration size 0"):
        split_images(calib_photos, 0)
    with pytest.raises(BadInput, match="batch size 0"):
        CalibrationImages(calib_photos, None, batch_size=0)


def test_not_an_onnx_model(tmp_path, calib_photos):
    fake = tmp_path / "model.onnx"
    fake.write_text("not a model")
    with pytest.raises(ModelFileError, match="model.onnx.*is not an ONNX model"):
        quantize_onnx(fake, tmp_path / "o.onnx", "fp16", progress=False)
    with pytest.raises(ModelFileError, match="does not exist"):
        quantize_onnx(tmp_path / "missing.onnx", None, "fp16", progress=False)


def test_bad_options_name_the_value(onnx_path, onnx_no_meta, tmp_path, calib_photos, fp16_result):
    with pytest.raises(BadInput, match="is already fp16; quantize the fp32 ONNX"):
        quantize_onnx(fp16_result["output"], tmp_path / "o.onnx", "int8", calib=calib_photos)
    with pytest.raises(BadInput, match="precision 'int4'"):
        quantize_onnx(onnx_path, tmp_path / "o.onnx", "int4")
    with pytest.raises(BadInput, match="calibration method 'kl'"):
        quantize_onnx(onnx_path, tmp_path / "o.onnx", "int8", calib=calib_photos, method="kl")
    with pytest.raises(BadInput, match="pattern 'gatez' matches no node"):
        quantize_onnx(onnx_path, tmp_path / "o.onnx", "fp16", keep_fp32=["gatez"], progress=False)
    with pytest.raises(BadInput, match="max_drop -0.5"):
        quantize_onnx(onnx_path, tmp_path / "o.onnx", "fp16", max_drop=-0.5)
    with pytest.raises(BadInput, match="is the input model"):
        quantize_onnx(onnx_path, onnx_path, "fp16")
    with pytest.raises(MissingMetadata, match="no edgefashion metadata"):
        quantize_onnx(onnx_no_meta, tmp_path / "o.onnx", "fp16")


@pytest.fixture
def onnx_no_meta(onnx_path, tmp_path):
    import onnx

    m = onnx.load(str(onnx_path))
    del m.metadata_props[:]
    path = tmp_path / "bare.onnx"
    onnx.save(m, str(path))
    return path
