"""The lr schedules and recipes: warm-up then cosine ending low by steps or by the time budget,
the paper's ÷10 every 2 epochs, a from-scratch default that does not decay to nothing, and the
per-epoch learning rates a real training run records in its history."""
from __future__ import annotations

import math

import pytest
import torch

from edgefashion.data import Sample
from edgefashion.errors import BadInput
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training import TrainConfig, Trainer
from edgefashion.training.recipe import RECIPES, recipe_config, recipe_name
from edgefashion.training.schedule import WARMUP_START, LRSchedule, cosine_factor


def test_cosine_warms_up_then_decays_to_its_floor_by_steps():
    cfg = TrainConfig(epochs=10, warmup=0.1, min_lr_ratio=0.02)
    sched = LRSchedule(cfg, steps_per_epoch=20)  # 200 steps
    f = [sched.factor(s) for s in range(201)]
    assert f[0] == pytest.approx(WARMUP_START)
    assert all(a < b for a, b in zip(f[:20], f[1:21]))          # linear warm-up over 20 steps
    assert f[20] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[20:], f[21:]))          # then never rises
    assert f[110] == pytest.approx(0.02 + 0.98 * 0.5)           # half-way through the cosine
    assert f[200] == pytest.approx(0.02)


def test_a_time_budget_ends_the_cosine_low_whatever_the_step_count():
    # 100 epochs could never run in 1 minute: progress follows the clock, so the lr still ends low
    sched = LRSchedule(TrainConfig(epochs=100, max_minutes=1.0, warmup=0.05, min_lr_ratio=0.01), 50)
    assert sched.total_steps == 5000
    assert sched.factor(10, elapsed_s=1.0) == pytest.approx(cosine_factor(1 / 60, 0.05, 0.01))
    assert sched.factor(300, elapsed_s=30.0) == pytest.approx(0.01 + 0.99 * 0.5 * (
        1 + math.cos(math.pi * (0.5 - 0.05) / 0.95)))
    assert sched.factor(600, elapsed_s=60.0) == pytest.approx(0.01)
    # and steps count when they are ahead of the clock (max_steps caps the total)
    fast = LRSchedule(TrainConfig(epochs=100, max_steps=100, max_minutes=60.0, warmup=0.0), 50)
    assert fast.factor(100, elapsed_s=1.0) == pytest.approx(TrainConfig().min_lr_ratio)


def test_paper_schedule_divides_by_ten_every_two_epochs():
    cfg = recipe_config(False, "paper", epochs=6)
    assert (cfg.optimizer, cfg.lr, cfg.lr_step_epochs, cfg.lr_gamma) == ("adam", 1e-4, 2, 0.1)
    sched = LRSchedule(cfg, steps_per_epoch=7)
    per_epoch = [sched.factor(e * 7 + 3) for e in range(6)]
    assert per_epoch == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    # the same values as torch's StepLR stepped once per epoch
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    step_lr = torch.optim.lr_scheduler.StepLR(opt, 2, 0.1)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        step_lr.step()
    assert per_epoch == pytest.approx(seen)


def test_recipes_pick_finetune_scratch_or_paper_and_apply_overrides():
    assert recipe_name(True) == "finetune" and recipe_name(False) == "scratch"
    assert recipe_name(True, "paper") == "paper" and recipe_name(False, "cosine") == "scratch"
    ft = recipe_config(True, epochs=3, label_smoothing=None, ema=0.99)
    assert (ft.optimizer, ft.schedule, ft.augment) == ("adamw", "cosine", "strong")
    assert ft.backbone_lr_mult < 1 and ft.label_smoothing == RECIPES["finetune"]["label_smoothing"] > 0
    assert ft.ema == 0.99 and ft.epochs == 3
    with pytest.raises(BadInput, match="schedule"):
        recipe_name(True, "linear")
    with pytest.raises(BadInput, match="unknown training options"):
        recipe_config(True, learning_rate=1)
    with pytest.raises(BadInput, match="ema"):
        TrainConfig(ema=0.2)
    with pytest.raises(BadInput, match="augment"):
        TrainConfig(augment="heavy")


def test_from_scratch_default_does_not_decay_to_nothing():
    """The old default (paper, 6 epochs) ended at 1e-7; the scratch recipe ends at 5 % of its peak."""
    for epochs in (6, 30):
        scratch = recipe_config(False, epochs=epochs)
        end = LRSchedule(scratch, 100).factor(epochs * 100) * scratch.lr
        assert end >= 0.04 * scratch.lr and end >= 1e-5
    paper = recipe_config(False, "paper", epochs=6)
    assert LRSchedule(paper, 100).factor(599) * paper.lr == pytest.approx(1e-6)


def _tiny_run(samples, schema, tmp_path, **kw):
    torch.manual_seed(0)
    model = create_model("msfan_student", schema.num_categories, 0, width=0.125, input_size=64)
    cfg = TrainConfig(**{"batch_size": 8, "progress": False, **kw})
    return Trainer(model, schema, PreprocessConfig(input_size=64), cfg, tmp_path).fit(samples, samples[:6])


def test_training_history_records_the_decaying_lr_per_epoch(real_photos, tmp_path):
    cats = sorted({p.parent.name for p in real_photos})
    schema = LabelSchema.simple(cats)
    samples = [Sample(p, cats.index(p.parent.name)) for p in real_photos]
    summary = _tiny_run(samples, schema, tmp_path, epochs=5, lr=2e-3, warmup=0.2, min_lr_ratio=0.05,
                        augment="light")
    lrs = [h["lr"] for h in summary["history"]]
    assert len(lrs) == 5 and all(a > b for a, b in zip(lrs[1:], lrs[2:]))  # decays after warm-up
    assert lrs[-1] < 0.2 * 2e-3 and lrs[-1] >= 0.05 * 2e-3 * 0.999        # ends low, at the floor
    assert all(h["lrs"]["head"] == h["lr"] for h in summary["history"])
    paper = _tiny_run(samples, schema, tmp_path / "p", epochs=4, lr=1e-3, schedule="paper")
    assert [h["lr"] for h in paper["history"]] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])


def test_fine_tuning_on_attribute_data_adds_the_attribute_recipe():
    from edgefashion.training.recipe import ATTRIBUTE_FINETUNE

    plain = recipe_config(True)
    assert (plain.head_epochs, plain.augment, plain.freeze_bn, plain.ema) == (0, "strong", False, 0.0)
    assert plain.wise_ft == ()  # WiSE-FT starts from the head fit, which plain fine-tuning has not
    attrs = recipe_config(True, attributes=True)
    for key, value in ATTRIBUTE_FINETUNE.items():
        assert getattr(attrs, key) == value
    assert recipe_config(True, attributes=True, augment="strong", head_epochs=0).augment == "strong"
    assert recipe_config(False, attributes=True).head_epochs == 0  # scratch: nothing pretrained
    paper = recipe_config(True, "paper", attributes=True)
    assert paper.attribute_loss == "paper" and paper.head_epochs == 0 and paper.wise_ft == ()
    assert plain.attribute_loss == "grouped"


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_bn_keeps_the_backbone_statistics_through_a_training_run(real_photos, tmp_path, freeze):
    import numpy as np
    import torch

    from edgefashion.data import Sample
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig
    from edgefashion.training import TrainConfig, Trainer

    torch.manual_seed(0)
    schema = LabelSchema.simple(["a", "b"])
    samples = [Sample(p, i % 2, np.zeros(0, np.int8)) for i, p in enumerate(real_photos[:4])]
    model = create_model("msfan_lite", 2, 0, width=0.25, input_size=64, head_dim=8)
    bn = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    cfg = TrainConfig(freeze_bn=freeze, max_steps=1, batch_size=4, progress=False)
    Trainer(model, schema, PreprocessConfig(input_size=64), cfg, tmp_path).fit(samples)
    assert torch.equal(bn.running_mean, before) == freeze
