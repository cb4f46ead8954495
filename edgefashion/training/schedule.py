"""Learning-rate schedules as a factor of each parameter group's peak lr, set every step.

``cosine``: linear warm-up from 1 % of the peak over the first ``warmup`` of training, then a
cosine down to ``min_lr_ratio``. Training progress is the larger of steps / total steps and the
fraction of the time budget spent: with ``--max-minutes`` the run cannot know its number of steps
in advance (the machine may be shared, validation takes its share), so it reads the clock, and the
lr reaches its floor when the budget does -- not after a fixed count of epochs.

``paper``: MSFAN's step decay, ``lr_gamma ** (epoch // lr_step_epochs)``, epoch = step //
steps_per_epoch (the same values as ``torch.optim.lr_scheduler.StepLR`` stepped every epoch).
"""
from __future__ import annotations

import math

from edgefashion.training.config import TrainConfig

WARMUP_START = 0.01


class LRSchedule:
    """``factor(step, elapsed_s)`` -> multiplier of the peak lr; ``apply(opt, ...)`` sets it."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int) -> None:
        self.cfg = cfg
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        total = cfg.epochs * self.steps_per_epoch
        self.total_steps = min(total, cfg.max_steps) if cfg.max_steps else total
        self.budget_s = cfg.max_minutes * 60.0 if cfg.max_minutes else None

    def progress(self, step: int, elapsed_s: float = 0.0) -> float:
        """Fraction of training done in [0, 1]: by steps, or by the time budget when further."""
        p = step / self.total_steps
        if self.budget_s:
            p = max(p, elapsed_s / self.budget_s)
        return min(1.0, max(0.0, p))

    def factor(self, step: int, elapsed_s: float = 0.0) -> float:
        cfg = self.cfg
        if cfg.schedule == "paper":
            return cfg.lr_gamma ** ((step // self.steps_per_epoch) // cfg.lr_step_epochs)
        return cosine_factor(self.progress(step, elapsed_s), cfg.warmup, cfg.min_lr_ratio)

    def apply(self, opt, step: int, elapsed_s: float = 0.0) -> float:
        f = self.factor(step, elapsed_s)
        for g in opt.param_groups:
            g["lr"] = g["initial_lr"] * f
        return f


def cosine_factor(p: float, warmup: float, floor: float) -> float:
    """Warm-up (linear from WARMUP_START) over [0, warmup), then cosine from 1 to ``floor``."""
    if warmup > 0 and p < warmup:
        return WARMUP_START + (1.0 - WARMUP_START) * p / warmup
    q = (p - warmup) / (1.0 - warmup) if warmup < 1 else 1.0
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, q)))
