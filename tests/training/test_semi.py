"""Teacher-student semi-supervised training (MSFAN §4.4.1) on real clothing-small photos.

Labelled: a few dozen train images with their categories (and random attribute labels, so the
attribute forms of the losses run). Unlabelled: other train images, labels dropped. The teacher is
a tiny MSFAN trained for a few steps in the test, at a different input size from the student, so
its own preprocessing is exercised.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from edgefashion.cli.main import main
from edgefashion.data import Sample, read_folders
from edgefashion.errors import BadInput, SchemaError
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class, load_checkpoint, save_checkpoint
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training import TrainConfig, Trainer
from edgefashion.training.semi import (SemiConfig, SemiSupervisedTrainer, Teacher, UnlabelledDataset,
                                       attribute_entropy, category_entropy, read_unlabelled)

TEACHER_SIZE, STUDENT = 32, "msfan_student"
ATTRS = {"texture": ["plain", "striped"], "shape": ["long", "short"]}


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "batch_size": 6, "lr": 1e-3, "progress": False, "seed": 0, **kw})


@pytest.fixture(scope="module")
def data(clothing_small):
    """(schema with attributes, labelled samples, unlabelled samples): disjoint real photos."""
    folder_schema, samples = read_folders(clothing_small / "train")
    schema = LabelSchema.simple(folder_schema.category_names, ATTRS)
    by_cat: dict[int, list] = {}
    for s in samples:
        by_cat.setdefault(s.category, []).append(s)
    rng = np.random.default_rng(0)
    labelled, unlabelled = [], []
    for c in sorted(by_cat):
        for s in by_cat[c][:3]:
            attrs = np.where(rng.random(4) > 0.5, 1, -1).astype(np.int8)
            labelled.append(Sample(s.path, s.category, attrs))
        unlabelled.extend(Sample(s.path) for s in by_cat[c][3:5])  # labels dropped
    return schema, labelled, unlabelled


@pytest.fixture(scope="module")
def teacher_ckpt(data, tmp_path_factory):
    schema, labelled, _ = data
    torch.manual_seed(0)
    cfg = {**get_model_class("msfan").tiny_config, "input_size": TEACHER_SIZE}
    model = create_model("msfan", schema.num_categories, schema.num_attributes, **cfg)
    out = tmp_path_factory.mktemp("teacher")
    Trainer(model, schema, PreprocessConfig(input_size=TEACHER_SIZE), _cfg(max_steps=3), out).fit(labelled)
    return out / "best.pt"


def _student(schema):
    torch.manual_seed(0)
    cfg = get_model_class(STUDENT).tiny_config
    model = create_model(STUDENT, schema.num_categories, schema.num_attributes, **cfg)
    return model, PreprocessConfig(input_size=cfg["input_size"])


def test_entropy_losses_match_the_paper():
    logits = torch.zeros(3, 4)  # uniform: entropy log(C) (up to the paper's +1e-5)
    assert math.isclose(float(category_entropy(logits)), math.log(4), rel_tol=1e-4)
    sharp = torch.tensor([[20.0, -20.0, -20.0, -20.0]])
    assert float(category_entropy(sharp)) < 1e-4
    h = torch.tensor([[0.2, 0.9]])
    w_pos, w_neg = torch.tensor([2.0, 1.0]), torch.tensor([1.0, 3.0])
    want = -np.mean([2 * .2 * np.log(.2 + 1e-5) + .8 * np.log(.8 + 1e-5),
                     .9 * np.log(.9 + 1e-5) + 3 * .1 * np.log(.1 + 1e-5)])
    got = float(attribute_entropy(torch.logit(h), w_pos, w_neg))
    assert math.isclose(got, want, rel_tol=1e-4)
    assert float(attribute_entropy(torch.zeros(2, 0), w_pos[:0], w_neg[:0])) == 0.0


def test_teacher_pseudo_labels_use_its_own_preprocessing(data, teacher_ckpt):
    schema, _, unlabelled = data
    _, prep = _student(schema)
    teacher = Teacher(teacher_ckpt, schema)
    assert teacher.preprocess.input_size == TEACHER_SIZE != prep.input_size
    ds = UnlabelledDataset(unlabelled[:4], prep, teacher.preprocess, schema.num_attributes, flip_prob=0)
    item = ds[0]
    assert item["image"].shape[-1] == prep.input_size and item["teacher_image"].shape[-1] == TEACHER_SIZE
    assert item["category"] == -1 and not item["attributes"].any()
    x = torch.stack([ds[i]["teacher_image"] for i in range(4)])
    cat, attrs = teacher.pseudo_labels(x)
    model, _ = load_checkpoint(teacher_ckpt)
    with torch.no_grad():
        out = model(x)
    assert torch.equal(cat, out["category_logits"].argmax(1))  # same names, same order
    assert torch.equal(attrs, torch.where(out["attribute_logits"].sigmoid() >= 0.5, 1.0, -1.0))


def test_teacher_maps_categories_by_name_and_refuses_strangers(data, teacher_ckpt, tmp_path):
    schema, _, _ = data
    names = schema.category_names
    student_schema = LabelSchema.simple(list(reversed(names[1:])), {})  # reordered, one missing
    teacher = Teacher(teacher_ckpt, student_schema)
    want = [student_schema.category_names.index(n) if n in student_schema.category_names else -1
            for n in names]
    assert teacher.category_map.tolist() == want
    stranger = LabelSchema.simple(["x", "y"], {})
    model = create_model("msfan", 2, 0, **get_model_class("msfan").tiny_config)
    path = save_checkpoint(tmp_path / "t.pt", model, stranger, PreprocessConfig(input_size=64))
    with pytest.raises(SchemaError, match="no name in common"):
        Teacher(path, schema)


def test_sigmas_get_gradients_and_entropies_are_finite(data, teacher_ckpt, tmp_path):
    schema, labelled, unlabelled = data
    model, prep = _student(schema)
    trainer = SemiSupervisedTrainer(model, schema, prep, _cfg(), tmp_path, SemiConfig(str(teacher_ckpt)),
                                    unlabelled)
    loss_fn = trainer._build_loss(labelled)
    batch = trainer._prepare_batch(next(iter(trainer._make_loader(labelled))))
    mask = batch["unlabelled"]
    assert mask.sum() == (~mask).sum() == 6  # equal proportion
    assert (batch["pseudo_category"][~mask] == -1).all() and (batch["pseudo_category"][mask] >= 0).all()
    assert (batch["pseudo_attributes"][mask].abs() == 1).all() and not batch["pseudo_attributes"][~mask].any()
    model.train()
    losses = loss_fn(model(batch["image"]), batch)
    for k in ("loss", "labelled", "student", "entropy_category", "entropy_attributes"):
        assert math.isfinite(float(losses[k].detach())), k
    assert float(losses["entropy_category"]) > 0 and float(losses["entropy_attributes"]) > 0
    losses["loss"].backward()
    assert float(loss_fn.log_sigma1.grad) != 0 and float(loss_fn.log_sigma2.grad) != 0


def test_semi_supervised_trainer_end_to_end_and_resume(data, teacher_ckpt, tmp_path):
    schema, labelled, unlabelled = data
    model, prep = _student(schema)
    semi = SemiConfig(str(teacher_ckpt), sigma_lr=0.05)
    trainer = SemiSupervisedTrainer(model, schema, prep, _cfg(max_steps=4), tmp_path, semi, unlabelled)
    summary = trainer.fit(labelled, labelled[::3])
    assert summary["steps"] == 4 and summary["stopped"] == "max_steps"
    info = summary["semi_supervised"]
    assert info["unlabelled_images"] == len(unlabelled) and info["teacher_model"] == "msfan"
    assert info["sigma1"] != 1.0 and info["sigma2"] != 1.0  # learned
    assert all(math.isfinite(r["loss"]) for r in summary["history"])
    _, ck = load_checkpoint(tmp_path / "last.pt")
    assert ck["raw"]["model"] == STUDENT and ck["schema"] == schema
    saved = ck["raw"]["train_state"]["loss"]
    assert math.isclose(float(saved["log_sigma1"].exp()), info["sigma1"], rel_tol=1e-6)

    again = SemiSupervisedTrainer(_student(schema)[0], schema, prep,
                                  _cfg(epochs=2, max_steps=6), tmp_path, semi, unlabelled)
    again.resume(tmp_path / "last.pt")
    summary2 = again.fit(labelled)
    assert summary2["steps"] == 6 and len(again.opt.param_groups) == 2
    lrs = [g["lr"] for g in again.opt.param_groups]  # sigma's own lr, decayed with the schedule
    assert lrs[1] == pytest.approx(lrs[0] * 0.05 / 1e-3)


def test_cli_semi_supervised(data, teacher_ckpt, clothing_small, tmp_path, capsys):
    schema, labelled, unlabelled = data
    root = tmp_path / "data"
    for split, items in (("train", labelled[::2]), ("validation", labelled[1::3])):
        for s in items:  # a small folder-per-category copy (symlinks) of real photos
            dst = root / split / schema.category_names[s.category] / s.path.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(s.path)
    listing = tmp_path / "unlabelled.txt"
    listing.write_text("\n".join(str(s.path) for s in unlabelled) + "\n")
    assert len(read_unlabelled(listing)) == len(unlabelled)
    out = tmp_path / "run"
    common = ["train", str(root), "--model", STUDENT, "--width", "0.125", "--input-size", "64",
              "--batch-size", "4", "--max-steps", "3", "--epochs", "1", "--quiet", "-o", str(out)]
    code = main(common + ["--semi-supervised", "--teacher", str(teacher_ckpt),
                          "--unlabelled", str(listing), "--unlabelled-ratio", "0.5"])
    assert code == 0
    text = capsys.readouterr().out
    assert "semi-supervised: teacher msfan" in text and f"{len(unlabelled)} unlabelled images" in text
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 3 and summary["semi_supervised"]["unlabelled_ratio"] == 0.5
    assert (out / "best.pt").is_file()
    # --teacher alone distils (training/distill.py): this teacher knows attributes the data lacks
    assert main(common + ["--teacher", str(teacher_ckpt)]) == 2
    assert "teacher" in (err := capsys.readouterr().err) and "has 4" in err
    assert main(common + ["--teacher", str(teacher_ckpt), "--unlabelled", str(listing)]) == 2
    assert "add --semi-supervised" in capsys.readouterr().err
    assert main(common + ["--semi-supervised", "--teacher", str(teacher_ckpt)]) == 2
    assert "--unlabelled" in capsys.readouterr().err


def test_bad_semi_config():
    with pytest.raises(BadInput, match="unlabelled_ratio"):
        SemiConfig("t.pt", unlabelled_ratio=0)
    with pytest.raises(BadInput, match="min_confidence"):
        SemiConfig("t.pt", min_confidence=1.0)
