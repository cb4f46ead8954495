"""The linear-probe baseline (training/probe.py, `edgefashion baseline`).

Hand-made features where the answer is known check the masking and the cross-validation; the CLI
runs end to end on the real deepfashion-fine-attr photos at 96 px (skipped without the shared data)
with the efficientnet-lite0 package weights (nothing downloaded, nothing timed).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgefashion.labels import LabelSchema
from edgefashion.training.probe import (L2_GRID, ProbeConfig, Task, cross_validate, fit_linear,
                                        probe_schema, probe_tasks, row_basis, task_targets)
from tests.conftest import data_dir


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _three_classes(n_per: int = 20, seed: int = 0):
    """2-d features whose class is its quadrant-ish cluster; labels 1 / -1 as attribute_matrix gives."""
    rng = np.random.default_rng(seed)
    centres = np.asarray([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    cls = np.repeat(np.arange(3), n_per)
    x = centres[cls] + rng.normal(0, 0.5, (len(cls), 2))
    labels = -np.ones((len(cls), 3), np.int8)
    labels[np.arange(len(cls)), cls] = 1
    return x, cls, labels


def test_schema_and_tasks_softmax_for_exclusive_groups_of_two_or_more():
    schema = LabelSchema.simple(["tee", "jeans"], {"texture": ["striped", "dotted"], "solo": ["x"],
                                                   "style": ["boho", "punk"]},
                                exclusive_groups=["texture", "solo"])
    assert probe_schema(schema).softmax_groups == ("texture",)
    tasks = {t.name: t for t in probe_tasks(schema)}
    assert [t.kind for t in tasks.values()] == ["softmax", "softmax", "sigmoid", "sigmoid"]
    assert tasks["style"].columns == (3, 4)
    one_category = LabelSchema.simple(["garment"], {"texture": ["a", "b"]}, exclusive_groups=["texture"])
    assert [t.name for t in probe_tasks(one_category)] == ["texture"]


def test_softmax_group_masks_unknown_rows():
    """Unknown rows (no +1 in the group) carry a contradicting class; masked, they change nothing."""
    x, cls, labels = _three_classes()
    unknown = np.zeros((15, 3), np.int8)                       # all-unknown rows ...
    x_bad = np.asarray([[-3.0, 0.0]] * 15)                     # ... sitting on class 1's cluster
    task = Task("g", "softmax", (0, 1, 2))
    y, mask = task_targets(task, np.zeros(75, np.int64), np.concatenate([labels, unknown]))
    assert mask.sum() == 60 and not mask[60:].any()
    w, b = fit_linear(np.concatenate([x, x_bad]), y, mask, "softmax", 1e-3, 3)
    w0, b0 = fit_linear(x, y[:60], mask[:60], "softmax", 1e-3, 3)
    np.testing.assert_allclose(w, w0, atol=1e-5)
    np.testing.assert_allclose(b, b0, atol=1e-5)
    assert np.mean(np.argmax(x @ w + b, 1) == cls) > 0.95
    # unmasked, the same rows (read as class 0, the argmax of no +1) would pull the answer away
    w1, b1 = fit_linear(np.concatenate([x, x_bad]), y, np.ones(75, bool), "softmax", 1e-3, 3)
    assert np.abs(w1 - w0).max() > 1e-2


def test_sigmoid_group_masks_unknown_entries():
    x, cls, labels = _three_classes()
    labels = labels.copy()
    labels[:10, 0] = 0                       # unknown entries in column 0 only
    y, mask = task_targets(Task("g", "sigmoid", (0, 1, 2)), np.zeros(60, np.int64), labels)
    assert y.shape == mask.shape == (60, 3) and mask.sum() == 170
    w, b = fit_linear(x, y, mask, "sigmoid", 1e-2, 3)
    assert np.mean(np.argmax(x @ w + b, 1) == cls) > 0.95


def test_cross_validation_picks_a_grid_value_and_prefers_weak_l2_on_clean_data():
    x, cls, labels = _three_classes()
    y, mask = task_targets(Task("g", "softmax", (0, 1, 2)), np.zeros(60, np.int64), labels)
    x = np.concatenate([x, x + 0.01])        # each "image" twice, like the flipped copies
    image = np.tile(np.arange(60), 2)
    cfg = ProbeConfig(l2_grid=(1e-3, 1e-1, 10.0), folds=3)
    best, scores = cross_validate(x, image, np.tile(y, 2), np.tile(mask, 2), "softmax", 3, cfg)
    assert best in cfg.l2_grid and set(scores) == set(cfg.l2_grid)
    assert best < 10.0 and scores[10.0] > scores[best]   # separable clusters: heavy L2 only hurts
    # deterministic given the seed
    assert cross_validate(x, image, np.tile(y, 2), np.tile(mask, 2), "softmax", 3, cfg) == (best, scores)


def test_fitting_in_the_row_span_gives_the_same_classifier():
    """Fewer rows than dimensions: fit on x @ basis, map back, same logits as fitting on x."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 80))
    y = (x[:, 0] + 0.5 * rng.normal(size=30) > 0).astype(np.int64)
    basis = row_basis(x)
    assert basis.shape == (80, 30)
    w, b = fit_linear(x, y, np.ones(30, bool), "softmax", 0.1, 2, max_iter=200)
    wz, bz = fit_linear(x @ basis, y, np.ones(30, bool), "softmax", 0.1, 2, max_iter=200)
    x_new = rng.normal(size=(10, 80))
    np.testing.assert_allclose(x_new @ (basis @ wz) + bz, x_new @ w + b, atol=1e-4)


def test_cli_baseline_on_real_photos_beats_chance(tmp_path, capsys):
    from edgefashion.cli.main import main

    root = data_dir("deepfashion-fine-attr")
    pytest.importorskip("timm")
    out = tmp_path / "baseline"
    assert main(["baseline", str(root), "--input-size", "96", "--threads", "1", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    rep = json.loads((out / "report.json").read_text())
    base = rep["baseline"]
    assert base["kind"] == "linear probe" and base["backbone"] == "efficientnet-lite0"
    assert base["input_size"] == 96 and base["train_images"] == 201
    assert set(base["l2"]) == {"texture", "sleeve", "length", "neckline", "fabric", "fit"}
    assert all(v in L2_GRID for v in base["l2"].values())
    assert rep["num_images"] == 50 and "texture" in rep["attribute_top3_recall"]
    outs = np.load(out / "outputs.npz")
    schema = probe_schema(_fine_schema(root))
    for group, idx in schema.group_indices().items():
        labels = outs["attributes"][:, idx]
        known = (labels == 1).any(1)
        hit = np.argmax(outs["attribute_logits"][:, idx], 1) == np.argmax(labels == 1, 1)
        assert hit[known].mean() > 1.0 / len(idx), group   # every group's top-1 beats chance


def _fine_schema(root):
    from edgefashion.data import read_fine_attr

    return read_fine_attr(root, "val")[0]


def test_cli_baseline_max_train_fits_the_shared_draw(tmp_path, capsys):
    """`baseline --max-train 60 --seed 3` fits 60 photos drawn by ``subsample``, the helper `train
    --max-train` draws with too (one place, so the probe and the run see the same photos)."""
    from edgefashion.cli.main import main
    from edgefashion.data.splits import load_split, subsample

    root = data_dir("deepfashion-fine-attr")
    pytest.importorskip("timm")
    out = tmp_path / "few"
    assert main(["baseline", str(root), "--input-size", "64", "--threads", "1", "--max-train", "60",
                 "--seed", "3", "-o", str(out)]) == 0
    assert "fitting 60 training images" in capsys.readouterr().out
    rep = json.loads((out / "report.json").read_text())
    assert rep["baseline"]["train_images"] == 60 and rep["num_images"] == 50
    _, train = load_split(root, "train")
    drawn = subsample(train, 60, 3)
    assert len({s.path for s in drawn}) == 60 and drawn == subsample(train, 60, 3)
    assert drawn != subsample(train, 60, 4) and subsample(train, 0, 3) is train
    assert subsample(train, 10_000, 3) != train and sorted(s.path for s in subsample(
        train, 10_000, 3)) == sorted(s.path for s in train)   # all of them, shuffled


def test_negative_max_train_is_refused():
    from edgefashion.data.splits import subsample
    from edgefashion.errors import DatasetError

    with pytest.raises(DatasetError, match="--max-train -5"):
        subsample(list(range(10)), -5, 0)
