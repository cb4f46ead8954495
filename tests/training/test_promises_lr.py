"""The learning rates of a real training run follow the documented paper schedule.

README / ``train --help``: the paper schedule is Adam at ``--lr`` divided by 10 every ``--lr-step``
epochs. Checked twice on a tiny run: the per-epoch lr the CLI writes to train_summary.json, and the
lr the optimizer really used at every step (read by a torch optimizer step hook, not recomputed).
"""
from __future__ import annotations

import json

import pytest
import torch

from edgefashion.cli.main import main
from edgefashion.data import generate_synthetic


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_synthetic(tmp_path_factory.mktemp("syn"), images_per_category=4, image_size=64)


def test_cli_paper_schedule_history_decays_by_ten_every_step(dataset, tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(dataset), "-o", str(out), "--width", "0.125", "--input-size", "64",
                 "--batch-norm", "--epochs", "3", "--batch-size", "8", "--quiet",
                 "--schedule", "paper", "--lr", "1e-3", "--lr-step", "1"]) == 0
    history = json.loads((out / "train_summary.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert [h["lr"] for h in history] == pytest.approx([1e-3, 1e-4, 1e-5], rel=1e-9)


def test_trainer_steps_use_the_paper_lr(dataset, tmp_path):
    from edgefashion.data.splits import load_split
    from edgefashion.models import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig
    from edgefashion.training import TrainConfig, Trainer

    schema, train = load_split(str(dataset), "train", "auto")
    torch.manual_seed(0)
    model = create_model("msfan", schema.num_categories, schema.num_attributes, width=0.125,
                         input_size=64, batch_norm=True)
    cfg = TrainConfig(epochs=4, batch_size=8, lr=2e-3, schedule="paper", lr_step_epochs=2,
                      lr_gamma=0.5, progress=False)
    trainer = Trainer(model, schema, PreprocessConfig(input_size=64), cfg, tmp_path)
    used: list[float] = []
    trainer.opt.register_step_pre_hook(lambda opt, args, kwargs: used.append(opt.param_groups[0]["lr"]))
    summary = trainer.fit(train)
    per_epoch = -(-len(train) // 8)
    assert len(used) == summary["steps"] == 4 * per_epoch
    want = [2e-3 * 0.5 ** ((s // per_epoch) // 2) for s in range(len(used))]
    assert used == pytest.approx(want, rel=1e-9)
    assert [h["lr"] for h in summary["history"]] == pytest.approx([2e-3, 2e-3, 1e-3, 1e-3], rel=1e-9)
