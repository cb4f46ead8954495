"""GarmentDataset: the training tensor is exactly the shared preprocess() of the image."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgefashion.data import GarmentDataset, Sample, make_loader, read_deepfashion  # noqa: E402
from edgefashion.data.dataset import keeps_sigchld_handler  # noqa: E402
from edgefashion.errors import BadInput, DatasetError, ImageDecodeError  # noqa: E402
from edgefashion.runtime.images import load_image  # noqa: E402
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess  # noqa: E402

CFG = PreprocessConfig(input_size=48)


@pytest.fixture(scope="module")
def samples(synth_root):
    return read_deepfashion(synth_root)[1]


@pytest.mark.parametrize("cfg", [CFG, PreprocessConfig(input_size=40, resize="letterbox", bbox_margin=0.1),
                                 PreprocessConfig(input_size=32, color="bgr", resize="center_crop")])
@pytest.mark.parametrize("use_bbox", [True, False])
def test_tensor_equals_shared_preprocess(samples, cfg, use_bbox):
    """The data half of "training tensor == Predictor tensor": bit-identical to preprocess()."""
    ds = GarmentDataset(samples, cfg, train=False, use_bbox=use_bbox)
    for i in (0, 17, len(samples) - 1):
        item = ds[i]
        s = samples[i]
        want = preprocess(load_image(s.path), cfg, s.bbox if use_bbox else None)
        size = cfg.input_size
        assert item["image"].dtype == torch.float32 and item["image"].shape == (3, size, size)
        assert torch.equal(item["image"], torch.from_numpy(want))
        assert item["category"].dtype == torch.int64 and int(item["category"]) == s.category
        assert torch.equal(item["attributes"], torch.from_numpy(s.attributes.astype(np.float32)))
        assert item["index"] == i


def test_bbox_crop_changes_the_tensor(samples):
    a = GarmentDataset(samples, CFG, use_bbox=True)[0]["image"]
    b = GarmentDataset(samples, CFG, use_bbox=False)[0]["image"]
    assert not torch.equal(a, b)


def test_flip_happens_on_the_uint8_image_before_preprocess(samples):
    s = samples[3]
    img = load_image(s.path)
    w = img.shape[1]
    x1, y1, x2, y2 = s.bbox
    flipped = preprocess(np.ascontiguousarray(img[:, ::-1]), CFG, (w - x2, y1, w - x1, y2))
    item = GarmentDataset(samples, CFG, train=True, flip_prob=1.0)[3]
    assert torch.equal(item["image"], torch.from_numpy(flipped))
    plain = GarmentDataset(samples, CFG, train=False)[3]["image"]
    assert not torch.equal(item["image"], plain)
    # flip_prob 0 in training mode, or any flip_prob outside training: no augmentation
    assert torch.equal(GarmentDataset(samples, CFG, train=True, flip_prob=0.0)[3]["image"], plain)
    assert torch.equal(GarmentDataset(samples, CFG, train=False, flip_prob=1.0)[3]["image"], plain)


def test_flip_rate_follows_flip_prob(samples):
    ds = GarmentDataset(samples[:1], CFG, train=True, flip_prob=0.5)
    plain = GarmentDataset(samples[:1], CFG)[0]["image"]
    torch.manual_seed(0)
    flips = sum(not torch.equal(ds[0]["image"], plain) for _ in range(40))
    assert 8 <= flips <= 32


def test_samples_without_attributes_get_zeros(samples):
    bare = Sample(samples[0].path, 2)
    ds = GarmentDataset([samples[1], bare], CFG)
    assert ds.num_attributes == 20
    assert torch.equal(ds[1]["attributes"], torch.zeros(20))
    assert ds[1]["category"] == 2
    assert GarmentDataset([bare], CFG)[0]["attributes"].shape == (0,)
    assert GarmentDataset([bare], CFG, num_attributes=5)[0]["attributes"].shape == (5,)


def test_inconsistent_attribute_lengths(samples):
    other = Sample(samples[0].path, 0, attributes=[1, -1])
    with pytest.raises(DatasetError, match="different lengths"):
        GarmentDataset([samples[0], other], CFG)
    with pytest.raises(DatasetError, match="num_attributes 3 disagrees"):
        GarmentDataset([samples[0]], CFG, num_attributes=3)


def test_bad_images_raise_image_decode_error_naming_the_file(tmp_path, samples):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg \xff\xd9")
    missing = tmp_path / "missing.jpg"
    ds = GarmentDataset([Sample(corrupt, 0), Sample(missing, 0)], CFG)
    with pytest.raises(ImageDecodeError, match="corrupt.jpg"):
        ds[0]
    with pytest.raises(ImageDecodeError, match="missing.jpg.*does not exist"):
        ds[1]


def test_box_outside_the_image_is_a_dataset_error(samples):
    s = samples[0]
    ds = GarmentDataset([Sample(s.path, 0, bbox=(500, 500, 600, 600))], CFG)
    with pytest.raises(DatasetError, match=r"sample 0 .*img_00000001.jpg.*bbox"):
        ds[0]


def test_loader_batches_and_seeded_shuffle(samples):
    ds = GarmentDataset(samples[:20], CFG)
    batch = next(iter(make_loader(ds, 8, shuffle=False)))
    assert batch["image"].shape == (8, 3, 48, 48) and batch["image"].dtype == torch.float32
    assert batch["category"].dtype == torch.int64 and batch["attributes"].shape == (8, 20)
    assert batch["index"].tolist() == list(range(8))

    def order(seed):
        return torch.cat([b["index"] for b in make_loader(ds, 8, shuffle=True, seed=seed)]).tolist()

    assert order(1) == order(1)
    assert order(1) != order(2)
    assert sorted(order(1)) == list(range(20))


def test_loader_with_workers_matches_in_process(samples):
    ds = GarmentDataset(samples[:6], CFG)
    # torch leaves its DataLoader SIGCHLD handler installed for good; with OpenVINO loaded later in
    # the same process, the next child process to exit then crashed pytest (SIGSEGV, seen in CI)
    with keeps_sigchld_handler():
        batches = iter(make_loader(ds, 6, shuffle=False, num_workers=2))
        a = next(batches)
        batches._shutdown_workers()
    b = next(iter(make_loader(ds, 6, shuffle=False)))
    assert torch.equal(a["image"], b["image"])


def test_argument_checks(samples):
    with pytest.raises(BadInput, match="flip_prob 1.5"):
        GarmentDataset(samples, CFG, flip_prob=1.5)
    with pytest.raises(BadInput, match="PreprocessConfig"):
        GarmentDataset(samples, {"input_size": 48})
    with pytest.raises(BadInput, match="batch_size 0"):
        make_loader(GarmentDataset(samples, CFG), 0, shuffle=False)


def test_readers_do_not_import_torch():
    code = ("import sys, edgefashion.data as d; d.read_folders; d.read_deepfashion; d.read_image_list; "
            "print('torch' in sys.modules)")
    import edgefashion

    repo = str(Path(edgefashion.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=repo, env=env)
    assert out.stdout.strip() == "False"
