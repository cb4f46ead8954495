"""Supervised distillation (training/distill.py): the soft-target and hint losses, the teacher's view
of the student's batch, the teacher-schema check, and a distilled student trained on real photos."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefashion.data import Sample, read_folders
from edgefashion.errors import BadInput, SchemaError
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess
from edgefashion.training import TrainConfig, Trainer
from edgefashion.training.distill import (DistillConfig, DistillTrainer, Teacher, check_teacher_schema,
                                          soft_attribute_loss, soft_category_loss, teacher_view)

ATTRS = {"texture": ["plain", "striped", "floral"], "style": ["casual", "formal"]}


def _schema(categories=("a", "b", "c"), softmax=("texture",)):
    return LabelSchema.simple(list(categories), ATTRS).replace(exclusive_groups=("texture",),
                                                               softmax_groups=softmax)


def test_soft_category_loss_is_the_tempered_kl():
    s, t = torch.randn(5, 4), torch.randn(5, 4)
    T = 3.0
    p_t = (t / T).softmax(1)
    want = (p_t * (p_t.log() - (s / T).log_softmax(1))).sum(1).mean() * T * T
    assert float(soft_category_loss(s, t, T)) == pytest.approx(float(want), rel=1e-5)
    assert float(soft_category_loss(t, t, T)) == pytest.approx(0.0, abs=1e-6)


def test_soft_attribute_loss_is_minimal_at_the_teacher():
    """KL for the softmax group, BCE to sigmoid(t / T) for the others: the gradient vanishes when
    the student's logits equal the teacher's, and points towards them otherwise."""
    schema = _schema()
    t = torch.randn(4, schema.num_attributes)
    s = t.clone().requires_grad_(True)
    soft_attribute_loss(s, t, schema, 2.0).backward()
    assert float(s.grad.abs().max()) < 1e-6
    s = torch.zeros_like(t, requires_grad=True)
    loss0 = soft_attribute_loss(s, t, schema, 2.0)
    loss0.backward()
    loss0 = loss0.detach()
    with torch.no_grad():
        stepped = s - 0.5 * s.grad
    assert float(soft_attribute_loss(stepped, t, schema, 2.0)) < float(loss0)


def test_teacher_view_renormalises_and_resizes():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (80, 60, 3), dtype=np.uint8)
    src = PreprocessConfig(input_size=64)                                   # ImageNet mean / std
    dst = PreprocessConfig(input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3, color="bgr")
    x = torch.from_numpy(preprocess(img, src))[None]
    want = torch.from_numpy(preprocess(img, dst))[None]
    assert torch.allclose(teacher_view(x, src, dst), want, atol=1e-5)
    assert teacher_view(x, src, src) is x
    big = teacher_view(x, src, PreprocessConfig(input_size=96))
    assert big.shape == (1, 3, 96, 96)


def test_teacher_schema_must_match():
    student = _schema()
    check_teacher_schema(_schema(categories=("c", "a", "b")), student, "t.pt")  # order is free
    with pytest.raises(SchemaError, match=r"lacks 1 \('c'\).*has 1 \('shirt'\)"):
        check_teacher_schema(_schema(categories=("a", "b", "shirt")), student, "'t.pt'")
    other = LabelSchema.simple(["a", "b", "c"], {"texture": ["plain"]})
    with pytest.raises(SchemaError, match="other attributes"):
        check_teacher_schema(other, student, "'t.pt'")


def test_bad_distill_config():
    with pytest.raises(BadInput, match="temperature"):
        DistillConfig(temperature=0)
    with pytest.raises(BadInput, match="alpha"):
        DistillConfig(alpha=1.5)
    with pytest.raises(BadInput, match="hint"):
        DistillConfig(hint_weight=-1)


@pytest.fixture(scope="module")
def photos(clothing_small):
    """A few real train photos per category, with random attribute labels (texture one-hot)."""
    folder_schema, samples = read_folders(clothing_small / "train")
    schema = _schema(folder_schema.category_names)
    rng = np.random.default_rng(0)
    picked = []
    for c in range(schema.num_categories):
        for s in [s for s in samples if s.category == c][:2]:
            attrs = -np.ones(schema.num_attributes, np.int8)
            attrs[rng.integers(0, 3)] = 1
            attrs[3 + rng.integers(0, 2)] = 1
            picked.append(Sample(s.path, s.category, attrs))
    return schema, picked


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "batch_size": 5, "lr": 1e-3, "progress": False, **kw})


def test_distilled_student_trains_with_soft_targets_and_hint(photos, tmp_path):
    """A tiny lite_classifier teacher at another input size (and a reordered schema) distilled into
    a tiny msfan_lite: the loss holds every term, the teacher answers in the student's order."""
    schema, samples = photos
    torch.manual_seed(0)
    reordered = LabelSchema.simple(list(reversed(schema.category_names)), ATTRS).replace(
        exclusive_groups=("texture",), softmax_groups=("texture",))
    t_cfg = {**get_model_class("lite_classifier").tiny_config, "input_size": 96}
    teacher_model = create_model("lite_classifier", schema.num_categories, schema.num_attributes, **t_cfg)
    Trainer(teacher_model, reordered, PreprocessConfig(input_size=96), _cfg(max_steps=2),
            tmp_path / "t").fit(samples)
    s_cfg = get_model_class("msfan_lite").tiny_config
    student = create_model("msfan_lite", schema.num_categories, schema.num_attributes, **s_cfg)
    prep = PreprocessConfig(input_size=s_cfg["input_size"])
    teacher = Teacher(tmp_path / "t" / "best.pt", schema, prep)
    x = torch.randn(2, 3, s_cfg["input_size"], s_cfg["input_size"])
    got = teacher(x)
    raw = teacher.model(teacher_view(x, prep, teacher.preprocess))["category_logits"]
    assert torch.allclose(got["category_logits"], raw.flip(1), atol=1e-5)  # reversed names
    assert got["features"].shape == (2, teacher_model.backbone.out_channels)
    trainer = DistillTrainer(student, schema, prep, _cfg(max_steps=3), tmp_path / "s",
                             DistillConfig(hint_weight=1.0), teacher)
    seen = []
    loss_forward = type(trainer)._build_loss

    def spy(self, train):
        loss = loss_forward(self, train)
        loss.register_forward_hook(lambda m, a, out: seen.append(out))
        return loss

    trainer._build_loss = spy.__get__(trainer)
    summary = trainer.fit(samples, samples[:4])
    assert summary["steps"] == 3 and summary["distillation"]["teacher_model"] == "lite_classifier"
    assert set(seen[0]) >= {"loss", "labels", "soft_category", "soft_attributes", "hint"}
    assert all(np.isfinite(o["loss"].item()) for o in seen)
    assert float(seen[0]["soft_category"]) > 0
    ckpt = torch.load(tmp_path / "s" / "best.pt", weights_only=False)
    assert not any(k.startswith("teacher") for k in ckpt["state_dict"])  # the teacher stays out
    assert not any(trainer.model.attribute_head._forward_pre_hooks)      # the hint hook is gone
