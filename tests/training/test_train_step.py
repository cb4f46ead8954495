"""One training step lowers the loss on a small batch of real photos, for every registered model.

Each model trains with its own loss (``make_loss``) and its own training forward, on a batch from
the real GarmentDataset, so a model added to the registry is covered without new test code.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefashion.data import GarmentDataset, Sample
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class, list_models
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training.config import TrainConfig
from edgefashion.losses.multitask import build_loss, training_forward


@pytest.mark.parametrize("name", list_models())
def test_training_steps_lower_the_loss_on_real_photos(name, real_photos):
    torch.manual_seed(0)
    cfg = get_model_class(name).tiny_config
    cats = sorted({p.parent.name for p in real_photos})
    schema = LabelSchema.simple(cats, {"texture": ["a", "b"], "shape": ["c", "d"]})
    rng = np.random.default_rng(0)
    samples = [Sample(p, cats.index(p.parent.name), np.where(rng.random(4) > 0.5, 1, -1).astype(np.int8))
               for p in real_photos[:8]]
    ds = GarmentDataset(samples, PreprocessConfig(input_size=cfg["input_size"]))
    batch = {k: torch.stack([torch.as_tensor(ds[i][k]) for i in range(len(ds))]) for k in ds[0]}
    model = create_model(name, len(cats), 4, **cfg)
    loss_fn = build_loss(model, schema, samples, TrainConfig())
    opt = torch.optim.Adam(list(model.parameters()) + list(loss_fn.parameters()), lr=1e-3)

    def loss_now() -> float:
        model.eval()
        with torch.no_grad():
            return float(loss_fn(training_forward(model, batch), batch)["loss"])

    before = loss_now()
    model.train()
    for _ in range(5):
        torch.manual_seed(1)  # the same random label masking (models that mask) every step
        loss = loss_fn(training_forward(model, batch), batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.manual_seed(1)
    assert loss_now() < before
