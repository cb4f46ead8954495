"""WiSE-FT: weight-space points between the heads-on-frozen-features model and the fine-tuned one,
scored on validation beside the epochs; best.pt keeps the best. Real photos, tiny msfan_lite."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefashion.data import Sample
from edgefashion.errors import BadInput
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, read_checkpoint
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training import TrainConfig, Trainer
from edgefashion.training.evaluate import evaluate_model
from edgefashion.training.group_metrics import selection_score
from edgefashion.training.weight_average import interpolate, snapshot

PREP = PreprocessConfig(input_size=64)


def test_interpolate_is_the_straight_line_and_keeps_counters_from_the_end():
    start = {"w": torch.zeros(3), "n": torch.tensor(2), "h": torch.ones(2, dtype=torch.float16)}
    end = {"w": torch.tensor([4.0, -8.0, 2.0]), "n": torch.tensor(7), "h": torch.full((2,), 3.0)}
    mid = interpolate(start, end, 0.25)
    torch.testing.assert_close(mid["w"], torch.tensor([1.0, -2.0, 0.5]))
    assert mid["n"].item() == 7 and mid["n"].dtype == torch.int64
    torch.testing.assert_close(mid["h"], torch.full((2,), 1.5))
    torch.testing.assert_close(interpolate(start, end, 1.0)["w"], end["w"])
    torch.testing.assert_close(interpolate(start, end, 0.0)["w"], start["w"])
    assert mid["n"] is not end["n"]  # a copy: loading it never aliases the end state


def test_interpolate_refuses_states_of_different_models():
    with pytest.raises(ValueError, match="differ in their tensors"):
        interpolate({"a": torch.zeros(1)}, {"b": torch.zeros(1)}, 0.5)
    with pytest.raises(ValueError, match=r"shape \(2,\) at the start and \(3,\)"):
        interpolate({"a": torch.zeros(2)}, {"a": torch.zeros(3)}, 0.5)


@pytest.mark.parametrize("bad", [(0.0,), (1.0,), (0.5, 1.5), (-0.2,)])
def test_wise_ft_weights_must_lie_strictly_inside(bad):
    with pytest.raises(BadInput, match="strictly between 0 and 1"):
        TrainConfig(wise_ft=bad)
    assert TrainConfig(wise_ft=[0.5]).to_dict()["wise_ft"] == [0.5]


@pytest.fixture(scope="module")
def photos(real_photos):
    cats = sorted({p.parent.name for p in real_photos})
    schema = LabelSchema.simple(cats, {"fit": ["loose", "tight"]}, exclusive_groups=["fit"])
    rng = np.random.default_rng(1)
    samples = []
    for p in real_photos[:32]:
        fit = rng.integers(2)
        samples.append(Sample(p, cats.index(p.parent.name), np.array([1 - 2 * fit, 2 * fit - 1], np.int8)))
    return schema, samples


def _lite(schema):
    torch.manual_seed(0)
    return create_model("msfan_lite", schema.num_categories, schema.num_attributes,
                        width=0.25, input_size=64, head_dim=32)


def test_a_run_scores_each_point_and_best_pt_is_the_best_scored(photos, tmp_path):
    schema, samples = photos
    train, val = samples[::2], samples[1::2]
    cfg = TrainConfig(epochs=2, batch_size=8, lr=3e-3, head_epochs=5, wise_ft=(0.3, 0.6),
                      progress=False)
    trainer = Trainer(_lite(schema), schema, PREP, cfg, tmp_path)
    heads_only = {}
    fit_heads = trainer._fit_heads

    def keep_heads_state(*a):  # the state WiSE-FT starts from, to check the interpolation
        fit_heads(*a)
        heads_only.update(snapshot(trainer.model))

    trainer._fit_heads = keep_heads_state
    summary = trainer.fit(train, val)
    hist = summary["history"]
    assert [r.get("phase") for r in hist] == ["heads on frozen features", None, None, "WiSE-FT", "WiSE-FT"]
    assert [r.get("wise_ft_alpha") for r in hist[3:]] == [0.3, 0.6]
    scores = [selection_score(r["val"], schema.num_categories) for r in hist]
    assert summary["best_score"] == pytest.approx(max(scores))
    best = read_checkpoint(tmp_path / "best.pt")["state_dict"]
    # best.pt re-scored gives the best score, whichever record it came from
    model = _lite(schema)
    model.load_state_dict(best)
    got = selection_score(evaluate_model(model, val, trainer.schema, PREP), schema.num_categories)
    assert got == pytest.approx(max(scores))
    # each WiSE-FT point is the interpolation of the heads-only and the final (EMA-less) weights
    end = snapshot(trainer.eval_model())
    model.load_state_dict(interpolate(heads_only, end, 0.6))
    want = selection_score(evaluate_model(model, val, trainer.schema, PREP), schema.num_categories)
    assert want == pytest.approx(scores[4])
    if summary["best_wise_ft_alpha"] is not None:
        i = 3 + [0.3, 0.6].index(summary["best_wise_ft_alpha"])
        assert scores[i] == pytest.approx(max(scores))


def test_no_points_without_a_head_fit(photos, tmp_path):
    schema, samples = photos
    cfg = TrainConfig(epochs=1, batch_size=8, head_epochs=0, wise_ft=(0.5,), progress=False)
    summary = Trainer(_lite(schema), schema, PREP, cfg, tmp_path).fit(samples[::2], samples[1::2])
    assert all(r.get("phase") != "WiSE-FT" for r in summary["history"])
    assert summary["best_wise_ft_alpha"] is None
