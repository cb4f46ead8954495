"""landmark_attention and vsam: heatmaps, landmark / keypoint data, losses, metrics, export, Predictor.

Real DeepFashion photos with boxes and landmarks come from deepfashion-fine-attr (skipped when the
shared data is absent); models are the tiny configs, so everything runs on a CPU in seconds.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from edgefashion.data import GarmentDataset, Sample, read_fine_attr
from edgefashion.data.dataset import LANDMARK_FLIP
from edgefashion.data.keypoints import attach_keypoints, read_keypoints_json, read_keypoints_list
from edgefashion.data.sample import LANDMARK_NAMES
from edgefashion.errors import BadInput, DatasetError
from edgefashion.models import create_model, get_model_class
from edgefashion.models.heatmaps import (gaussian_heatmaps, masked_heatmap_l2, skeleton_heatmap,
                                         soft_argmax)
from edgefashion.models.vsam import focal_bce
from edgefashion.runtime.images import load_image
from edgefashion.runtime.preprocess import PreprocessConfig, input_to_image
from edgefashion.training.config import TrainConfig
from edgefashion.training.evaluate import evaluate_model
from edgefashion.training.landmark_metrics import landmark_report
from edgefashion.losses.multitask import build_loss, training_forward
from tests.conftest import data_dir

TINY = 64


@pytest.fixture(scope="module")
def fine_attr():
    """(schema, train samples) of the real DeepFashion fine-attribute photos."""
    return read_fine_attr(data_dir("deepfashion-fine-attr"), "train")


def tiny(name: str, schema, **kw):
    cfg = {**get_model_class(name).tiny_config, **kw}
    return create_model(name, schema.num_categories, schema.num_attributes, **cfg)


def batch_of(samples, size: int = TINY, train: bool = False) -> dict:
    ds = GarmentDataset(samples, PreprocessConfig(input_size=size), train=train)
    items = [ds[i] for i in range(len(ds))]
    return {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in items[0]}


# ---------------------------------------------------------------- heatmaps
def test_gaussian_target_peaks_in_the_pixel_of_the_point_and_masks_invisibles():
    pts = torch.tensor([[[0.31, 0.71, 1.0], [0.91, 0.13, 1.0], [0.5, 0.5, 0.0]]])
    maps = gaussian_heatmaps(pts, 50, 40, sigma=0.03)
    assert maps.shape == (1, 3, 50, 40)
    for k, (x, y) in enumerate([(0.31, 0.71), (0.91, 0.13)]):
        row, col = divmod(int(maps[0, k].argmax()), 40)
        assert (row, col) == (int(y * 50), int(x * 40))
        assert 0.8 < float(maps[0, k].max()) <= 1.0
    assert float(maps[0, 2].abs().max()) == 0.0   # weight 0: no target at all


def test_soft_argmax_reads_back_the_point_within_half_a_pixel():
    pts = torch.tensor([[[0.2031, 0.6406, 1.0], [0.75, 0.25, 1.0]]])
    xy = soft_argmax(gaussian_heatmaps(pts, 64, 64, sigma=0.02), beta=40.0)
    assert (xy - pts[..., :2]).abs().max() < 0.5 / 64


def test_heatmap_loss_ignores_invisible_channels_and_skips_without_points():
    pts = torch.tensor([[[0.3, 0.3, 1.0], [0.6, 0.6, 0.0]]])
    pred = gaussian_heatmaps(pts, 32, 32, 0.05).clone()
    pred[0, 1] = 5.0                       # garbage in the invisible channel costs nothing
    assert float(masked_heatmap_l2(pred, pts, 0.05)) == pytest.approx(0.0, abs=1e-7)
    assert masked_heatmap_l2(pred, pts * torch.tensor([1.0, 1.0, 0.0]), 0.05) is None


def test_skeleton_heatmap_draws_limbs_between_detected_joints():
    pts = torch.tensor([[[0.2, 0.5, 1.0], [0.8, 0.5, 1.0], [0.5, 0.9, 0.0]]])
    with_limb = skeleton_heatmap(pts, 32, 32, 0.03, limbs=[(0, 1), (1, 2)])
    points_only = skeleton_heatmap(pts, 32, 32, 0.03)
    mid = with_limb[0, 0, 16, 16]          # half-way along the limb 0 - 1
    assert float(mid) > 0.8 and float(points_only[0, 0, 16, 16]) < 0.01
    assert float(with_limb[0, 0, 28, 16]) < 0.01   # the limb to an undetected joint is not drawn


# ---------------------------------------------------------------- dataset landmarks
@pytest.mark.parametrize("prep", [PreprocessConfig(input_size=224),
                                  PreprocessConfig(input_size=96, resize="letterbox", bbox_margin=0.1),
                                  PreprocessConfig(input_size=64, resize="center_crop")])
def test_landmarks_map_to_input_coordinates_and_back_to_pixels(fine_attr, prep):
    _, samples = fine_attr
    ds = GarmentDataset(samples[:12], prep)
    assert ds.has_landmarks
    checked = 0
    for i, s in enumerate(samples[:12]):
        lm = ds[i]["landmarks"].numpy()
        assert lm.shape == (8, 3) and lm.dtype == np.float32
        present = s.landmarks[:, 2] != -1
        assert (lm[~present] == 0).all()                       # absent slots: zero rows
        usable = lm[:, 2] > 0
        assert ((0 <= lm[usable, :2]) & (lm[usable, :2] <= 1)).all()
        back = input_to_image(lm[present], load_image(s.path).shape, prep, s.bbox)
        np.testing.assert_allclose(back[:, :2], s.landmarks[present, :2], atol=1e-3)
        checked += int(usable.sum())
    assert checked > 25


def test_samples_without_landmarks_omit_the_key(fine_attr):
    _, samples = fine_attr
    bare = [Sample(s.path, s.category, s.attributes, s.bbox) for s in samples[:2]]
    assert "landmarks" not in GarmentDataset(bare, PreprocessConfig(input_size=32))[0]
    mixed = GarmentDataset([bare[0], samples[1]], PreprocessConfig(input_size=32))
    assert torch.equal(mixed[0]["landmarks"], torch.zeros(8, 3))


def test_flip_mirrors_x_and_swaps_left_and_right(fine_attr):
    _, samples = fine_attr
    assert [LANDMARK_NAMES[j] for j in LANDMARK_FLIP][:2] == ["collar_right", "collar_left"]
    prep = PreprocessConfig(input_size=TINY)
    plain = GarmentDataset(samples[:6], prep, train=False)
    flipped = GarmentDataset(samples[:6], prep, train=True, flip_prob=1.0)
    for i in range(6):
        a, b = plain[i]["landmarks"].numpy(), flipped[i]["landmarks"].numpy()
        mirrored = a[list(LANDMARK_FLIP)]
        np.testing.assert_array_equal(b[:, 2], mirrored[:, 2])
        on = mirrored[:, 2] > 0
        np.testing.assert_allclose(b[on, 0], 1.0 - mirrored[on, 0], atol=1e-5)
        np.testing.assert_allclose(b[on, 1], mirrored[on, 1], atol=1e-6)


# ---------------------------------------------------------------- landmark_attention
def test_landmark_loss_lowers_on_real_photos(fine_attr):
    schema, samples = fine_attr
    torch.manual_seed(0)
    batch = batch_of(samples[:8])
    model = tiny("landmark_attention", schema)
    loss_fn = build_loss(model, schema, samples, TrainConfig())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    first = None
    for _ in range(10):
        parts = loss_fn(training_forward(model, batch), batch)
        first = float(parts["landmarks"].detach()) if first is None else first
        opt.zero_grad()
        parts["landmarks"].backward()
        opt.step()
    last = float(loss_fn(training_forward(model, batch), batch)["landmarks"].detach())
    # the heatmap head starts near zero (loss = the targets' energy, ~1e-3 at 64 px) and
    # learning the peaks from scratch is slow; a few steps lower it measurably, not by much
    assert 0 < last < 0.995 * first
    # without landmark labels the term is skipped, the rest of the loss still works
    bare = {k: v for k, v in batch.items() if k != "landmarks"}
    parts = loss_fn(training_forward(model, bare), bare)
    assert float(parts["landmarks"]) == 0.0 and torch.isfinite(parts["loss"])


def test_config_round_trips_through_create_model(fine_attr):
    schema, _ = fine_attr
    for name in ("landmark_attention", "vsam"):
        model = tiny(name, schema)
        cfg = json.loads(json.dumps(model.config))
        again = create_model(cfg.pop("name"), schema.num_categories, schema.num_attributes, **cfg)
        assert again.config == model.config
    assert tiny("landmark_attention", schema).config["landmark_names"] == list(LANDMARK_NAMES)
    with pytest.raises(BadInput, match="multiple of 32"):
        create_model("landmark_attention", 2, 2, input_size=100)
    with pytest.raises(BadInput, match="guide"):
        create_model("vsam", 2, 2, guide="elbows")


def test_evaluation_reports_normalized_distance_per_landmark(fine_attr):
    schema, samples = fine_attr
    torch.manual_seed(0)
    model = tiny("landmark_attention", schema)
    rep = evaluate_model(model, samples[:10], schema, PreprocessConfig(input_size=TINY))
    nd = rep["landmark_normalized_distance"]
    assert list(nd) == list(LANDMARK_NAMES) + ["overall"]
    assert 0 < nd["overall"] < 1.5 and rep["landmark_points"] > 30
    assert set(rep["landmark_detection_rate"]) == {"0.02", "0.05", "0.1"}


def test_landmark_report_numbers():
    true = np.zeros((2, 8, 3), np.float32)
    true[..., :2] = 0.5
    true[:, :4, 2] = 1.0                   # slots 4..7 invisible
    pred = true.copy()
    pred[0, 0, 0] += 0.03                  # collar_left off by 0.03 in one image
    pred[:, 5, :2] = 0.0                   # far off, but invisible: ignored
    rep = landmark_report(pred, true)
    nd = rep["landmark_normalized_distance"]
    assert nd["collar_left"] == pytest.approx(0.015) and nd["collar_right"] == 0.0
    assert np.isnan(nd["waist_right"]) and nd["overall"] == pytest.approx(0.015 / 4)
    assert rep["landmark_detection_rate"] == {"0.02": 7 / 8, "0.05": 1.0, "0.1": 1.0}
    assert rep["landmark_points"] == 8


def test_predictor_on_exported_onnx_gives_named_landmarks_in_pixels(fine_attr, tmp_path):
    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.runtime.predictor import Predictor

    schema, samples = fine_attr
    torch.manual_seed(0)
    model = tiny("landmark_attention", schema).eval()
    prep = PreprocessConfig(input_size=TINY)
    x = check_inputs_from_images([s.path for s in samples[:4]], prep)
    report = export_onnx(model, schema, prep, tmp_path / "lm.onnx", check_inputs=x, real_images=True)
    assert report.passed and report.max_abs["landmarks"] < 1e-3
    with Predictor(tmp_path / "lm.onnx", threads=1) as pred:
        for s in samples[:3]:
            h, w = load_image(s.path).shape[:2]
            for box in (None, s.bbox):
                r = pred(s.path, bboxes=box)
                assert list(r.landmarks) == list(LANDMARK_NAMES)
                x1, y1, x2, y2 = box or (0, 0, w, h)
                for px, py, conf in r.landmarks.values():
                    assert x1 <= px <= x2 and y1 <= py <= y2 and 0 <= conf <= 1
                assert r.gates["attention"].shape == (TINY // 8, TINY // 8)
        r = pred(samples[0].path)
    with torch.no_grad():
        ref = model(torch.from_numpy(x[:1]))["landmarks"][0].numpy()
    shape = load_image(samples[0].path).shape
    want = input_to_image(ref, shape, prep)
    got = np.array(list(r.landmarks.values()))
    np.testing.assert_allclose(got, want, atol=1e-3 * max(shape[:2]))


# ---------------------------------------------------------------- keypoints + vsam
def _openpose(path, people):
    path.write_text(json.dumps({"version": 1.3, "people": [
        {"person_id": [-1], "pose_keypoints_2d": [v for row in p for v in row]} for p in people]}))
    return path


def test_keypoint_files_attach_and_map_like_landmarks(fine_attr, tmp_path):
    _, samples = fine_attr
    lines = ["# image x y c ...", ""]
    for s in samples[:3]:  # paths relative to the list file's folder
        x1, y1, x2, y2 = s.bbox
        rel = os.path.relpath(s.path, tmp_path)
        lines.append(f"{rel}  {x1 + 5} {y1 + 5} 0.9  {x2 - 5} {y2 - 5} 1  0 0 0   # third: not seen")
    listfile = tmp_path / "kp.txt"
    listfile.write_text("\n".join(lines) + "\n")
    table = read_keypoints_list(listfile)
    assert len(table) == 3 and all(v.shape == (3, 3) for v in table.values())
    got = attach_keypoints(samples[:4], listfile)
    assert [s.keypoints is not None for s in got] == [True, True, True, False]
    ds = GarmentDataset(got, PreprocessConfig(input_size=TINY))
    kp = ds[0]["keypoints"].numpy()
    np.testing.assert_allclose(kp[:2, 2], [1.0, 1.0])
    assert (kp[2] == 0).all() and (ds[3]["keypoints"].numpy() == 0).all()
    back = input_to_image(kp[:2], load_image(got[0].path).shape, ds.cfg, got[0].bbox)
    np.testing.assert_allclose(back[:, :2], got[0].keypoints[:2, :2], atol=1e-3)

    # OpenPose --write_json output: <stem>_keypoints.json, the most confident person is used
    folder = tmp_path / "pose"
    folder.mkdir()
    _openpose(folder / f"{samples[0].path.stem}_keypoints.json",
              [[[10, 10, 0.1]] * 18, [[50, 60, 0.9]] * 18])
    _openpose(folder / f"{samples[1].path.stem}_keypoints.json", [])
    got = attach_keypoints(samples[:2], folder)
    assert got[0].keypoints.shape == (18, 3) and got[0].keypoints[0, 0] == 50
    assert got[1].keypoints is None
    with pytest.raises(DatasetError, match="no keypoints for image"):
        attach_keypoints(samples[:2], folder, require=True)


@pytest.mark.parametrize("text, match", [
    ("a.jpg 1 2 0.5 3 4\n", r"kp.txt:1: expected .* 5 numbers"),
    ("a.jpg 1 2 0.5\nb.jpg 1 2 0.5 3 4 0.5\n", r"kp.txt:2: 2 keypoints, but earlier rows have 1"),
    ("# header\na.jpg 1 two 0.5\n", r"kp.txt:2: 'two' is not a number"),
    ("a.jpg 1 2 0.5\n\na.jpg 1 2 0.5\n", r"kp.txt:3: image 'a.jpg' is listed twice \(first on line 1\)"),
    ("a.jpg 1 2 1.5\n", r"kp.txt:1: keypoint 0 has confidence 1.5"),
    ("a.jpg 1 nan 0.5\n", r"kp.txt:1: .*finite"),
])
def test_keypoint_list_errors_name_file_and_line(tmp_path, text, match):
    (tmp_path / "kp.txt").write_text(text)
    with pytest.raises(DatasetError, match=match):
        read_keypoints_list(tmp_path / "kp.txt")


def test_keypoint_json_errors_name_the_file(tmp_path):
    bad = tmp_path / "x_keypoints.json"
    bad.write_text('{"people": [\n  {"pose_keypoints_2d": [1, 2, }\n]}')
    with pytest.raises(DatasetError, match=r"x_keypoints.json:2: not valid JSON"):
        read_keypoints_json(bad)
    bad.write_text('{"people": [{"pose_keypoints_2d": [1, 2, 0.5, 4]}]}')
    with pytest.raises(DatasetError, match=r"x_keypoints.json: person 0: 'pose_keypoints_2d'"):
        read_keypoints_json(bad)
    bad.write_text('{"points": []}')
    with pytest.raises(DatasetError, match=r"x_keypoints.json: expected an OpenPose file"):
        read_keypoints_json(bad)
    bad.write_text('{"keypoints": [[1, 2, 0.5], [3, 4, 1.0]]}')
    assert read_keypoints_json(bad).shape == (2, 3)
    with pytest.raises(DatasetError, match="does not exist"):
        attach_keypoints([], tmp_path / "nope.txt")
    with pytest.raises(BadInput, match="keypoints must be"):
        Sample(tmp_path / "a.jpg", keypoints=[[1, 2]])


def test_focal_loss_matches_the_formula_and_ignores_unknown():
    z = torch.tensor([[2.0, -1.0, 0.5]])
    y = torch.tensor([[1.0, -1.0, 0.0]])
    p = torch.sigmoid(z[0, :2])
    want = (-0.6 * (1 - p[0]) ** 2 * torch.log(p[0]) - 0.4 * p[1] ** 2 * torch.log(1 - p[1])) / 2
    torch.testing.assert_close(focal_bce(z, y, 2.0, 0.6), want)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z[0, :2], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(focal_bce(z, y, 0.0, 0.5), 0.5 * bce)


def test_vsam_attention_learns_the_pose_heatmap_on_real_photos(fine_attr, tmp_path):
    schema, samples = fine_attr
    rows = []
    for s in samples[:8]:   # a stand-in pose: the landmarks as "keypoints", confidence 1 if present
        lm = s.landmarks
        rows.append(f"{s.path} " + " ".join(f"{x:g} {y:g} {float(v != -1):g}" for x, y, v in lm))
    (tmp_path / "kp.txt").write_text("\n".join(rows) + "\n")
    train = attach_keypoints(samples[:8], tmp_path / "kp.txt", require=True)
    torch.manual_seed(0)
    batch = batch_of(train)
    assert batch["keypoints"].shape == (8, 8, 3)
    model = tiny("vsam", schema, fidelity=10.0)
    loss_fn = build_loss(model, schema, train, TrainConfig())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    first = None
    for _ in range(10):
        parts = loss_fn(training_forward(model, batch), batch)
        first = float(parts["attention"].detach()) if first is None else first
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
    assert float(loss_fn(training_forward(model, batch), batch)["attention"].detach()) < 0.7 * first
    bare = {k: v for k, v in batch.items() if k != "keypoints"}
    assert float(loss_fn(model(bare["image"]), bare)["attention"].detach()) == 0.0
    # guide="auto" falls back to the dataset's landmarks
    auto = build_loss(tiny("vsam", schema, guide="auto"), schema, train, TrainConfig())
    assert float(auto(model(bare["image"]), bare)["attention"].detach()) > 0.0
