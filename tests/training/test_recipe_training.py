"""The fine-tuning recipe's parts in real training runs on real photos: label smoothing, the EMA
of the weights, the best-on-validation checkpoint, the backbone's lower lr, and
`edgefashion train --pretrained efficientnet-lite0` (the installed ImageNet package; no download).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgefashion.cli.main import main
from edgefashion.data import Sample
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class, load_checkpoint, read_checkpoint
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training import TrainConfig, Trainer
from edgefashion.training.ema import ModelEMA
from edgefashion.training.evaluate import evaluate_model
from edgefashion.losses.multitask import MultiTaskLoss, build_loss, category_loss
from edgefashion.training.optim import build_optimizer


@pytest.fixture(scope="module")
def photos(real_photos):
    cats = sorted({p.parent.name for p in real_photos})
    schema = LabelSchema.simple(cats, {"texture": ["a", "b"]})
    rng = np.random.default_rng(0)
    samples = [Sample(p, cats.index(p.parent.name), np.where(rng.random(2) > 0.5, 1, -1))
               for p in real_photos]
    return schema, samples


def _student(schema):
    torch.manual_seed(0)
    return create_model("msfan_student", schema.num_categories, schema.num_attributes,
                        width=0.125, input_size=64)


def test_label_smoothing_is_torch_cross_entropy_and_reaches_model_losses(photos):
    logits = torch.tensor([[4.0, 0.0, -1.0], [0.5, 2.0, 0.0], [1.0, 1.0, 1.0]])
    labels = torch.tensor([0, 1, -1])
    smooth = category_loss(logits, labels, 0.1)
    assert smooth == pytest.approx(float(F.cross_entropy(logits[:2], labels[:2], label_smoothing=0.1)))
    assert smooth > category_loss(logits, labels)  # confident, correct logits pay for certainty
    schema, samples = photos
    cfg = TrainConfig(label_smoothing=0.2)
    assert build_loss(_student(schema), schema, samples, cfg).label_smoothing == 0.2
    lm = create_model("landmark_attention", schema.num_categories, schema.num_attributes,
                      width=0.125, input_size=64)  # a model loss that wraps MultiTaskLoss
    nested = [m for m in build_loss(lm, schema, samples, cfg).modules() if isinstance(m, MultiTaskLoss)]
    assert nested and all(m.label_smoothing == 0.2 for m in nested)


def test_ema_averages_weights_and_copies_integer_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = ModelEMA(model, decay=0.9)
    before = ema.module[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    model.train()(torch.randn(4, 3))  # BN running stats and num_batches_tracked move
    ema.update(model)
    d = min(0.9, 2 / 11)
    assert torch.allclose(ema.module[0].weight, d * before + (1 - d) * model[0].weight)
    assert int(ema.module[1].num_batches_tracked) == 1
    assert not ema.module[0].weight.requires_grad


def test_backbone_gets_the_lower_lr():
    lite = create_model("msfan_lite", 4, 0, **get_model_class("msfan_lite").tiny_config)
    opt = build_optimizer(lite, TrainConfig(lr=1e-3, backbone_lr_mult=0.1, optimizer="adamw"))
    by_name = {g["name"]: g for g in opt.param_groups}
    assert by_name["head"]["lr"] == 1e-3 and by_name["backbone"]["lr"] == pytest.approx(1e-4)
    bb = {id(p) for p in lite.backbone_parameters()}
    assert {id(p) for p in by_name["backbone"]["params"]} == bb and bb
    one = build_optimizer(lite, TrainConfig(lr=1e-3))  # multiplier 1: one group
    assert len(one.param_groups) == 1


def test_layer_decay_and_frozen_stages():
    lite = create_model("msfan_lite", 4, 0, **get_model_class("msfan_lite").tiny_config)
    stages = lite.backbone.stage_param_groups()
    opt = build_optimizer(lite, TrainConfig(lr=1e-3, backbone_lr_mult=0.5, layer_decay=0.5,
                                            freeze_layers=2, optimizer="adamw"))
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    n = len(stages)
    assert "backbone0" not in lrs and "backbone1" not in lrs  # frozen: not optimised at all
    assert all(not p.requires_grad for group in stages[:2] for p in group)
    assert lrs[f"backbone{n - 1}"] == pytest.approx(5e-4)
    assert lrs["backbone2"] == pytest.approx(5e-4 * 0.5 ** (n - 3))
    x = torch.randn(2, 3, 64, 64)
    lite(x)["category_logits"].sum().backward()  # frozen stages get no gradient
    assert all(p.grad is None for group in stages[:2] for p in group)
    assert any(p.grad is not None for p in stages[-1])
    with pytest.raises(Exception, match="freeze_layers"):
        build_optimizer(_student(LabelSchema.simple(["a", "b"])), TrainConfig(freeze_layers=1))


def test_ema_run_saves_the_best_validated_weights_and_resumes(photos, tmp_path):
    schema, samples = photos
    prep = PreprocessConfig(input_size=64)
    cfg = TrainConfig(epochs=3, batch_size=8, lr=3e-3, ema=0.9, augment="light", progress=False)
    trainer = Trainer(_student(schema), schema, prep, cfg, tmp_path)
    val = samples[::2]
    summary = trainer.fit(samples, val)
    scores = [trainer.score(h["val"]) for h in summary["history"]]  # category top-1 and texture mAP
    assert summary["best_score"] == max(scores)
    best_top1 = summary["history"][int(np.argmax(scores))]["val"]["category_top1"]
    assert summary["best_category_top1"] == best_top1
    best, info = load_checkpoint(tmp_path / "best.pt")
    # best.pt holds the EMA weights of the best epoch, and they score what the history says
    assert evaluate_model(best, val, schema, prep)["category_top1"] == pytest.approx(best_top1)
    last = read_checkpoint(tmp_path / "last.pt")
    ema_state = last["train_state"]["ema"]
    assert ema_state["updates"] == summary["steps"]
    key = next(k for k, v in ema_state["weights"].items() if v.dtype.is_floating_point and v.dim() > 1)
    assert not torch.equal(ema_state["weights"][key], last["state_dict"][key])  # EMA != raw
    again = Trainer(_student(schema), schema, prep, TrainConfig(**{**cfg.to_dict(), "epochs": 4}),
                    tmp_path)
    again.resume(tmp_path / "last.pt")
    again.fit(samples, val)
    assert again.ema.updates == again.step and len(again.history) == 4


@pytest.mark.parametrize("extra", [[], ["--schedule", "paper"]])
def test_cli_train_pretrained_lite0(clothing_small, tmp_path, extra):
    root = tmp_path / "data"
    for split, n in (("train", 3), ("validation", 1)):
        for d in sorted((clothing_small / split).iterdir())[:3]:
            for p in sorted(d.glob("*.jpg"))[:n]:
                dst = root / split / d.name / p.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.symlink_to(p)
    out = tmp_path / "run"
    assert main(["train", str(root), "--model", "msfan_lite", "--pretrained", "efficientnet-lite0",
                 "--input-size", "64", "--epochs", "2", "--batch-size", "4", "--ema",
                 "--quiet", "-o", str(out), *extra]) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    lrs = [h["lr"] for h in summary["history"]]
    cfg = read_checkpoint(out / "last.pt")["train_state"]["config"]
    if extra:
        assert cfg["schedule"] == "paper" and lrs == pytest.approx([1e-4, 1e-4])
    else:
        assert (cfg["schedule"], cfg["optimizer"], cfg["augment"]) == ("cosine", "adamw", "strong")
        assert cfg["label_smoothing"] > 0 and cfg["ema"] > 0 and lrs[1] < lrs[0]
    model, info = load_checkpoint(out / "best.pt")
    # the preprocessing recorded with the model is the one the weights expect, and where from
    assert info["preprocess"].mean == pytest.approx(tuple(model.mean))
    assert info["preprocess"].std == pytest.approx(tuple(model.std))
    assert model.weights_info["spec"] == "efficientnet-lite0" and model.weights_info["sha256"]
    assert all(math.isfinite(h["loss"]) for h in summary["history"])
