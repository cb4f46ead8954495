"""``train --teacher SPEC``: a teacher checkpoint, or a pretrained backbone fine-tuned first, and the
time budget split between teacher and student.

SPEC is an edgefashion checkpoint (used as it is) or a weights spec the resolver knows
(``efficientnet-lite2``, ``efficientnet-lite1``, a local state_dict file, ``timm:...`` with
downloads allowed): then a plain ``lite_classifier`` on those weights is fine-tuned with the
fine-tuning recipe into ``OUT/teacher/`` before the student trains.

With ``--max-minutes`` both share the budget. Before any training, one training step of each (the
teacher's, and the student's including the teacher's forward pass) is timed on this machine; the
minimum budget is one epoch of each. The teacher gets ``share`` of the budget (at least its epoch,
leaving the student at least its own) and the student whatever the teacher leaves. A step's time
includes loading and augmenting its batch, timed on the training photos.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from edgefashion.errors import BadInput

TEACHER_MODEL = "lite_classifier"
DEFAULT_SHARE = 0.5


def is_checkpoint(spec: str) -> bool:
    """True when ``spec`` is an edgefashion checkpoint file (not a weights file)."""
    path = Path(str(spec)).expanduser()
    if not path.is_file():
        return False
    from edgefashion.errors import ModelFileError
    from edgefashion.models import read_checkpoint

    try:
        ckpt = read_checkpoint(path)
    except ModelFileError:
        return False
    return isinstance(ckpt, dict) and "model" in ckpt and "schema" in ckpt


def build_teacher(spec: str, schema, input_size: int, allow_download: bool = False):
    """-> (lite_classifier on the weights ``spec``, its PreprocessConfig). An unknown or uninstalled
    spec raises the resolver's error."""
    from edgefashion.models.build import pretrained_model

    return pretrained_model(TEACHER_MODEL, schema, {"input_size": input_size}, input_size, spec,
                            allow_download)


@dataclass(frozen=True)
class BudgetPlan:
    total_minutes: float
    teacher_minutes: float          # the teacher's training budget
    student_minutes: float          # what the student gets if the teacher uses all of its share
    minimum_minutes: float          # one epoch of each, at the measured step times
    teacher_step_s: float
    student_step_s: float           # student training step + the teacher's forward pass
    steps_per_epoch: int
    measuring_s: float              # time spent timing the steps (counted in the budget)

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"budget {self.total_minutes:g} min: teacher {self.teacher_minutes:.1f} min, student "
                f"{self.student_minutes:.1f} min (one epoch = {self.steps_per_epoch} steps: teacher "
                f"{self.teacher_step_s:.2f} s/step, distilled student {self.student_step_s:.2f} s/step "
                f"on this machine; minimum {self.minimum_minutes:.1f} min)")


def plan_budget(total_minutes: float, steps_per_epoch: int, teacher_step_s: float,
                student_step_s: float, share: float = DEFAULT_SHARE, measuring_s: float = 0.0
                ) -> BudgetPlan:
    """Split ``total_minutes``; a budget below one epoch of each is a BadInput naming the minimum."""
    if not 0 < share < 1:
        raise BadInput(f"teacher share {share} must lie in (0, 1): the teacher's part of --max-minutes")
    t_epoch = steps_per_epoch * teacher_step_s / 60
    s_epoch = steps_per_epoch * student_step_s / 60
    minimum = t_epoch + s_epoch + measuring_s / 60
    if total_minutes < minimum:
        raise BadInput(
            f"--max-minutes {total_minutes:g} cannot train both teacher and student: one epoch "
            f"({steps_per_epoch} steps) takes ~{t_epoch:.1f} min for the teacher and "
            f"~{s_epoch:.1f} min for the distilled student on this machine (measured), so give "
            f"--max-minutes {math.ceil(minimum)} or more, a smaller teacher (--teacher-size, "
            "efficientnet-lite1), or a trained teacher checkpoint (--teacher best.pt)")
    left = total_minutes - measuring_s / 60
    teacher = min(max(share * left, t_epoch), left - s_epoch)
    return BudgetPlan(total_minutes, round(teacher, 2), round(left - teacher, 2), round(minimum, 2),
                      round(teacher_step_s, 3), round(student_step_s, 3), steps_per_epoch,
                      round(measuring_s, 1))


def time_step(model: torch.nn.Module, size: int, batch_size: int, teacher=None,
              teacher_size: int | None = None, repeats: int = 2) -> float:
    """Seconds of one training step (forward + backward) of ``model`` on a random batch, plus
    ``teacher``'s forward pass when given; the fastest of ``repeats`` after a warm-up."""
    was = model.training
    model.train()
    x = torch.randn(batch_size, 3, size, size)
    xt = torch.randn(batch_size, 3, teacher_size, teacher_size) if teacher is not None else None
    best = math.inf
    try:
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            if teacher is not None:
                with torch.no_grad():
                    teacher.eval()(xt)
            out = model(x)
            sum(v.float().sum() for k, v in out.items() if k.endswith("_logits")).backward()
            if i:
                best = min(best, time.perf_counter() - t0)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was)
    return best


def time_loading(samples, preprocess, cfg) -> float:
    """Seconds to load and augment one training batch in this process (what each step adds when
    the loader has no workers; with workers it overlaps the step and counts as 0)."""
    if cfg.num_workers:
        return 0.0
    from edgefashion.data import GarmentDataset
    from edgefashion.data.augment import augment_preset

    ds = GarmentDataset(list(samples)[: cfg.batch_size], preprocess, train=True,
                        flip_prob=cfg.flip_prob, augment=augment_preset(cfg.augment))
    t0 = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    return (time.perf_counter() - t0) * cfg.batch_size / max(len(ds), 1)
