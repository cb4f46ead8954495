"""One training step lowers the loss on a small batch of real photos, for every registered model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefashion.models import create_model, get_model_class, list_models
from edgefashion.runtime.images import load_image
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess_batch
from edgefashion.training.losses import MultiTaskLoss


@pytest.mark.parametrize("name", list_models())
def test_training_steps_lower_the_loss_on_real_photos(name, real_photos):
    torch.manual_seed(0)
    cfg = get_model_class(name).tiny_config
    model = create_model(name, 10, 4, **cfg)
    paths = real_photos[:8]
    x = torch.from_numpy(preprocess_batch([load_image(p) for p in paths],
                                          PreprocessConfig(input_size=cfg["input_size"])))
    cats = sorted({p.parent.name for p in real_photos})
    y = torch.tensor([cats.index(p.parent.name) for p in paths])
    attrs = torch.from_numpy(np.where(np.random.default_rng(0).random((8, 4)) > 0.5, 1, -1))
    loss_fn = MultiTaskLoss(np.ones(4, np.float32), np.ones(4, np.float32))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss_now() -> float:
        model.eval()
        with torch.no_grad():
            return float(loss_fn(model(x), y, attrs)["loss"])

    before = loss_now()
    model.train()
    for _ in range(5):
        loss = loss_fn(model(x), y, attrs)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_now() < before
