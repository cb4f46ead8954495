"""LP-FT's head fit on cached frozen features, and what a training
run records: epoch 0 (the heads on the frozen backbone), the softmax groups and the F1-tuned
thresholds of the multi-label attributes, both in best.pt's schema. Real photos, tiny msfan_lite."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefashion.data import GarmentDataset, Sample
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, read_checkpoint
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training import TrainConfig, Trainer
from edgefashion.training.head_warmup import cache_pooled_features, fit_heads
from edgefashion.losses.multitask import multitask_loss

PREP = PreprocessConfig(input_size=64)


@pytest.fixture(scope="module")
def photos(real_photos):
    cats = sorted({p.parent.name for p in real_photos})
    schema = LabelSchema.simple(cats, {"fit": ["loose", "tight"], "texture": ["plain", "print"]},
                                exclusive_groups=["fit"])
    rng = np.random.default_rng(0)
    samples = []
    for p in real_photos[:40]:
        fit = rng.integers(2)
        texture = np.where(rng.random(2) > 0.6, 1, -1)
        samples.append(Sample(p, cats.index(p.parent.name),
                              np.array([1 if fit == 0 else -1, 1 if fit else -1, *texture], np.int8)))
    return schema, samples


def _lite(schema):
    torch.manual_seed(0)
    return create_model("msfan_lite", schema.num_categories, schema.num_attributes,
                        width=0.25, input_size=64, head_dim=32)


def test_cached_features_are_what_the_heads_read_and_fit_heads_leaves_the_backbone(photos):
    schema, samples = photos
    model = _lite(schema)
    cache = cache_pooled_features(model, samples[:6], PREP, batch_size=4)
    assert cache["features"].shape[0] == 12  # each image and its flip
    x = torch.stack([torch.as_tensor(GarmentDataset(samples[:6], PREP)[i]["image"]) for i in range(6)])
    model.eval()
    with torch.no_grad():
        want = model(x)["attribute_logits"]
        flipped = model(torch.flip(x, dims=[3]))["attribute_logits"]
        got = model.attribute_head(cache["features"])
    torch.testing.assert_close(got[:4], want[:4])          # batch 1: 4 images, then their flips
    torch.testing.assert_close(got[4:8], flipped[:4])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = multitask_loss(schema, samples, TrainConfig())
    full = cache_pooled_features(model, samples, PREP)
    with torch.no_grad():
        first = float(loss({"category_logits": model.category_head(full["features"]),
                            "attribute_logits": model.attribute_head(full["features"])},
                           full)["loss"])
    summary = fit_heads(model, full, loss, epochs=30, lr=3e-3, weight_decay=0.0)
    assert summary["final_loss"] < first
    after = model.state_dict()
    heads = ("category_head.", "attribute_head.")
    assert all(torch.equal(v, after[k]) for k, v in before.items() if not k.startswith(heads))
    assert all(not torch.equal(v, after[k]) for k, v in before.items()
               if k.startswith(heads) and k.endswith("weight"))


def test_a_run_records_epoch_zero_softmax_groups_and_tuned_thresholds(photos, tmp_path):
    schema, samples = photos
    cfg = TrainConfig(epochs=1, batch_size=8, head_epochs=5, progress=False)
    trainer = Trainer(_lite(schema), schema, PREP, cfg, tmp_path)
    summary = trainer.fit(samples[::2], samples[1::2])
    first = summary["history"][0]
    assert first["epoch"] == 0 and first["phase"] == "heads on frozen features"
    assert "fit" in first["val"]["groups"] and "texture" in first["val"]["groups"]
    assert summary["best_metric"] == "selection_score"
    assert summary["softmax_groups"] == ["fit"]
    best_schema = LabelSchema.from_dict(read_checkpoint(tmp_path / "best.pt")["schema"])
    assert best_schema.softmax_groups == ("fit",)
    tuned = summary["tuned_thresholds"]
    assert set(tuned) == {"plain", "print"}
    got = dict(zip(best_schema.attribute_names, best_schema.thresholds().tolist()))
    for name, t in tuned.items():
        assert got[name] == pytest.approx(t)
        assert 0.01 <= t <= 0.99
