"""``train --teacher SPEC``: the budget split, the minimum budget (refused before any training), the
spec resolution, and the one command end to end on real photos with a pretrained teacher."""
from __future__ import annotations

import json

import pytest
import torch

from edgefashion.cli.main import main
from edgefashion.errors import BadInput
from edgefashion.models import create_model, get_model_class
from edgefashion.training.teacher_recipe import is_checkpoint, plan_budget, time_step


def test_plan_budget_splits_by_share_within_the_minimum():
    plan = plan_budget(28, 192, teacher_step_s=2.0, student_step_s=2.5, share=0.5, measuring_s=30)
    assert plan.minimum_minutes == pytest.approx(192 * 2 / 60 + 192 * 2.5 / 60 + 0.5, abs=0.01)
    assert plan.teacher_minutes == pytest.approx((28 - 0.5) / 2, abs=0.01)
    assert plan.teacher_minutes + plan.student_minutes == pytest.approx(27.5, abs=0.02)
    # a small share still gives the teacher one epoch; a large one still leaves the student one
    assert plan_budget(28, 192, 2.0, 2.5, share=0.05).teacher_minutes == pytest.approx(6.4, abs=0.01)
    assert plan_budget(28, 192, 2.0, 2.5, share=0.95).student_minutes == pytest.approx(8.0, abs=0.01)


def test_a_budget_below_one_epoch_of_each_names_the_minimum():
    with pytest.raises(BadInput, match=r"--max-minutes 10 cannot train both.*--max-minutes 15 or more"):
        plan_budget(10, 192, 2.0, 2.5)
    with pytest.raises(BadInput, match="share"):
        plan_budget(28, 192, 2.0, 2.5, share=1.0)


def test_time_step_measures_a_training_step():
    cfg = get_model_class("msfan_lite").tiny_config
    model = create_model("msfan_lite", 3, 0, **cfg)
    teacher = create_model("lite_classifier", 3, 0, **get_model_class("lite_classifier").tiny_config)
    alone = time_step(model, cfg["input_size"], 4)
    both = time_step(model, cfg["input_size"], 4, teacher=teacher, teacher_size=64)
    assert 0 < alone < 30 and 0 < both < 30
    assert all(p.grad is None for p in model.parameters())  # no trace left


@pytest.fixture(scope="module")
def tiny_data(clothing_small, tmp_path_factory):
    """Three categories, 4 train / 2 validation real photos each (symlinks)."""
    root = tmp_path_factory.mktemp("kd_data")
    for cat in ("hat", "pants", "shoes"):
        for split, n in (("train", 4), ("validation", 2)):
            src = sorted((clothing_small / split / cat).iterdir())[:n]
            (root / split / cat).mkdir(parents=True)
            for p in src:
                (root / split / cat / p.name).symlink_to(p)
    return root


def _common(data, out):
    return ["train", str(data), "--model", "msfan_lite", "--width", "0.25", "--input-size", "64",
            "--batch-size", "4", "--epochs", "1", "--quiet", "-o", str(out)]


def test_one_command_trains_a_pretrained_teacher_then_distils(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(_common(tiny_data, out) + ["--teacher", "efficientnet-lite0", "--max-minutes", "5"])
    assert code == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "teacher-student budget 5 min: teacher" in text and "distilling lite_classifier" in text
    assert "validation top-1: teacher" in text
    summary = json.loads((out / "train_summary.json").read_text())
    teacher = summary["teacher"]
    assert teacher["trained_here"] and teacher["model"] == "lite_classifier"
    assert teacher["budget"]["teacher_minutes"] + teacher["budget"]["student_minutes"] <= 5
    assert is_checkpoint(teacher["checkpoint"]) and "category_top1" in teacher["best_val"]
    assert summary["distillation"]["teacher_input_size"] == 64
    ckpt = torch.load(teacher["checkpoint"], weights_only=False)
    assert ckpt["model"] == "lite_classifier" and ckpt["model_config"]["backbone"] == "efficientnet_lite0"
    # the teacher checkpoint itself, reused: the student gets the whole budget
    assert main(_common(tiny_data, tmp_path / "again") + ["--teacher", teacher["checkpoint"]]) == 0
    assert "the student gets the whole budget" in capsys.readouterr().out


def test_bad_teacher_specs_fail_before_training(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_common(tiny_data, out) + ["--teacher", "efficientnet-b9"]) == 2
    assert "efficientnet-b9" in capsys.readouterr().err
    assert main(_common(tiny_data, out) + ["--teacher", "efficientnet-lite0", "--max-minutes",
                                           "0.01"]) == 2
    err = capsys.readouterr().err
    assert "cannot train both" in err and "--max-minutes 1 or more" in err
    assert not (out / "teacher").exists()  # refused before any training


def test_semi_supervised_takes_a_pretrained_teacher_too(tiny_data, clothing_small, tmp_path, capsys):
    """--semi-supervised --teacher efficientnet-lite0: the teacher is fine-tuned first, then
    pseudo-labels the unlabelled photos (its best.pt is the checkpoint semi-supervised reads)."""
    listing = tmp_path / "unlabelled.txt"
    photos = sorted((clothing_small / "train" / "dress").iterdir())[:6]
    listing.write_text("\n".join(str(p) for p in photos) + "\n")
    out = tmp_path / "semi"
    code = main(_common(tiny_data, out) + ["--max-steps", "2", "--teacher", "efficientnet-lite0",
                                           "--semi-supervised", "--unlabelled", str(listing)])
    assert code == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "semi-supervised: teacher lite_classifier" in text and "6 unlabelled images" in text
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["semi_supervised"]["teacher"] == str(out / "teacher" / "best.pt")
    assert summary["teacher"]["trained_here"]
