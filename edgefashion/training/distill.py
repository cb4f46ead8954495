"""Supervised knowledge distillation: a frozen teacher's soft targets and features train the student.

Every training batch goes through the teacher too, on the student's own augmented crop (the
"consistent teaching" of Beyer et al., CVPR 2022: teacher and student see the same view), resized
to the teacher's input size and renormalised to its mean / std. The student minimises

    L = (1 - alpha) * L_labels + alpha * T^2 * L_soft + hint_weight * L_hint

L_labels: the student's own loss on the labels (category cross-entropy, grouped attributes).
L_soft: KL(teacher || student) of the category softmax at temperature T (Hinton et al., 2015); for
the attributes, KL per exclusive (softmax) group and binary cross-entropy against the teacher's
sigmoids at T for the others; category and attribute terms weighted as the labels' are.
L_hint: 1 - cosine between a learned linear map of the student's pooled features and the teacher's
pooled features (FitNets' regressor on the vectors the heads read; possible whenever both models
declare ``shared_pooled_heads``). The map lives in the loss and is not part of the exported model.

    DistillTrainer(student, schema, preprocess, cfg, out_dir, DistillConfig(),
                   teacher=Teacher("runs/t/teacher/best.pt", schema)).fit(train, val)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgefashion.errors import BadInput, SchemaError
from edgefashion.labels import LabelSchema
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.losses.multitask import build_loss
from edgefashion.training.trainer import Trainer


@dataclass(frozen=True)
class DistillConfig:
    temperature: float = 2.0   # softens both softmaxes; the soft loss is scaled by T^2
    alpha: float = 0.5         # share of the soft targets (1 - alpha: the labels)
    hint_weight: float = 0.5   # pooled-feature hint (0 = off)

    def __post_init__(self) -> None:
        if not 0.5 <= self.temperature <= 20:
            raise BadInput(f"distillation temperature {self.temperature} must lie in [0.5, 20] (e.g. 2)")
        if not 0 <= self.alpha <= 1:
            raise BadInput(f"distillation alpha {self.alpha} must lie in [0, 1]: the soft targets' "
                           "share of the loss")
        if self.hint_weight < 0:
            raise BadInput(f"hint weight {self.hint_weight} must be >= 0 (0 = no feature hint)")

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------- the teacher
def check_teacher_schema(teacher: LabelSchema, student: LabelSchema, where: str) -> None:
    """The teacher must answer the same categories and attributes (any order); else a
    SchemaError naming what differs."""
    for kind, t_names, s_names in (("categories", teacher.category_names, student.category_names),
                                   ("attributes", teacher.attribute_names, student.attribute_names)):
        missing = [n for n in s_names if n not in set(t_names)]
        extra = [n for n in t_names if n not in set(s_names)]
        if missing or extra:
            raise SchemaError(
                f"teacher {where} was trained on other {kind} than this data: it lacks "
                f"{_names(missing)} and has {_names(extra)} the data does not; distil from a teacher "
                "trained on the same labels (or give --teacher a weights package such as "
                "efficientnet-lite2 to train one first)")


def _names(names: Sequence[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:5])
    return f"{len(names)} ({shown}{', ...' if len(names) > 5 else ''})"


class Teacher:
    """A frozen checkpoint whose outputs come back in the student's label order, on the student's
    preprocessed batches (resized and renormalised to the teacher's preprocessing)."""

    def __init__(self, path: str | Path, student_schema: LabelSchema,
                 student_preprocess: PreprocessConfig, device: str = "cpu") -> None:
        from edgefashion.models import load_checkpoint

        model, info = load_checkpoint(path, map_location="cpu")
        check_teacher_schema(info["schema"], student_schema, repr(str(path)))
        self.path, self.schema, self.preprocess = Path(path), info["schema"], info["preprocess"]
        self.name = info["raw"]["model"]
        self.model = model.to(device).eval().requires_grad_(False)
        self.student_preprocess = student_preprocess
        t_cat = {n: i for i, n in enumerate(self.schema.category_names)}
        t_attr = {n: i for i, n in enumerate(self.schema.attribute_names)}
        self.category_index = torch.as_tensor([t_cat[n] for n in student_schema.category_names])
        self.attribute_index = torch.as_tensor([t_attr[n] for n in student_schema.attribute_names],
                                               dtype=torch.long)
        self._features: list[torch.Tensor] = []
        self.has_features = bool(model.shared_pooled_heads)
        if self.has_features:
            model.attribute_head.register_forward_pre_hook(lambda m, a: self._features.append(a[0]))

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images: the student's batch -> category_logits, attribute_logits (student order) and,
        when the teacher has pooled heads, "features" (N, F)."""
        self._features.clear()
        out = self.model(teacher_view(images, self.student_preprocess, self.preprocess))
        res = {"category_logits": out["category_logits"].float()[:, self.category_index.to(images.device)],
               "attribute_logits": out["attribute_logits"].float()[:, self.attribute_index.to(images.device)]}
        if self._features:
            res["features"] = self._features[-1].float()
        return res


def teacher_view(x: torch.Tensor, src: PreprocessConfig, dst: PreprocessConfig) -> torch.Tensor:
    """The student's preprocessed batch as the teacher's input: its size, mean / std and channel
    order (the crop is the student's, so both see the same view)."""
    if (src.mean, src.std, src.color) != (dst.mean, dst.std, dst.color):
        def col(v):
            return torch.as_tensor(v, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)

        x = x * col(src.std) + col(src.mean)
        if src.color != dst.color:
            x = x.flip(1)
        x = (x - col(dst.mean)) / col(dst.std)
    if x.shape[-1] != dst.input_size or x.shape[-2] != dst.input_size:
        x = F.interpolate(x, size=(dst.input_size, dst.input_size), mode="bilinear",
                          align_corners=False, antialias=x.shape[-1] > dst.input_size)
    return x


# ---------------------------------------------------------------------------------- the loss
def soft_category_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 KL(softmax(teacher / T) || softmax(student / T)), averaged over images."""
    if student.numel() == 0 or student.shape[1] < 2:
        return student.sum() * 0.0
    t = temperature
    return F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), reduction="batchmean",
                    log_target=True) * t * t


def soft_attribute_loss(student: torch.Tensor, teacher: torch.Tensor, schema: LabelSchema,
                        temperature: float) -> torch.Tensor:
    """The mean over attribute groups of: KL at T for a softmax group, BCE against the teacher's
    sigmoid(logit / T) for the others (times T^2, like the category term)."""
    if student.numel() == 0:
        return student.sum() * 0.0
    t, terms = temperature, []
    softmax = {tuple(idx) for idx in schema.softmax_indices()}
    for idx in schema.group_indices().values():
        if not idx:
            continue
        s, tt = student[:, idx], teacher[:, idx]
        if tuple(idx) in softmax and len(idx) > 1:
            terms.append(soft_category_loss(s, tt, t))
        else:
            terms.append(F.binary_cross_entropy_with_logits(s / t, torch.sigmoid(tt / t)) * t * t)
    return torch.stack(terms).mean() if terms else student.sum() * 0.0


class DistillationLoss(nn.Module):
    """(1 - alpha) labels + alpha soft targets + hint (module docstring). The batch carries the
    teacher's outputs as "teacher_*"; the student's pooled features come in as out["features"]."""

    def __init__(self, labels: nn.Module, schema: LabelSchema, cfg: DistillConfig,
                 student_features: int | None, teacher_features: int | None,
                 w_category: float = 1.0, w_attributes: float = 1.0) -> None:
        super().__init__()
        self.labels, self.schema, self.cfg = labels, schema, cfg
        self.w_c, self.w_a = float(w_category), float(w_attributes)
        use_hint = cfg.hint_weight > 0 and student_features and teacher_features
        self.hint = nn.Linear(student_features, teacher_features, bias=False) if use_hint else None

    def forward(self, out: dict, batch: dict) -> dict:
        cfg = self.cfg
        hard = self.labels(out, batch)
        l_c = soft_category_loss(out["category_logits"], batch["teacher_category_logits"],
                                 cfg.temperature)
        l_a = soft_attribute_loss(out["attribute_logits"], batch["teacher_attribute_logits"],
                                  self.schema, cfg.temperature)
        soft = self.w_c * l_c + self.w_a * l_a
        total = (1 - cfg.alpha) * hard["loss"] + cfg.alpha * soft
        res = {"labels": hard["loss"].detach(), "soft_category": l_c.detach(),
               "soft_attributes": l_a.detach()}
        if self.hint is not None and "features" in out and "teacher_features" in batch:
            l_h = 1 - F.cosine_similarity(self.hint(out["features"]), batch["teacher_features"], 1).mean()
            total = total + cfg.hint_weight * l_h
            res["hint"] = l_h.detach()
        return {"loss": total, **res}


# ---------------------------------------------------------------------------------- the trainer
class DistillTrainer(Trainer):
    """``Trainer`` whose batches also go through the frozen teacher and whose loss distils it."""

    def __init__(self, model, schema: LabelSchema, preprocess: PreprocessConfig, cfg, out_dir,
                 distill: DistillConfig, teacher: Teacher) -> None:
        super().__init__(model, schema, preprocess, cfg, out_dir)
        self.distill, self.teacher = distill, teacher
        self._features: list[torch.Tensor] = []
        self._hook = None

    def _student_features(self) -> int | None:
        return _pooled_width(self.model) if self.model.shared_pooled_heads else None

    def _build_loss(self, train_samples: Sequence) -> nn.Module:
        labels = build_loss(self.model, self.schema, train_samples, self.cfg)
        s_feat = self._student_features()
        t_feat = _pooled_width(self.teacher.model) if self.teacher.has_features else None
        if self.distill.hint_weight > 0 and not (s_feat and t_feat):
            print("note: no feature hint: the student or the teacher does not pool its features "
                  "into shared heads", flush=True)
        return DistillationLoss(labels, self.schema, self.distill, s_feat, t_feat,
                                self.cfg.w_category, self.cfg.w_attributes)

    def _prepare_batch(self, batch: dict) -> dict:
        batch = super()._prepare_batch(batch)
        t = self.teacher(batch["image"])
        batch.update({f"teacher_{k}": v for k, v in t.items()})
        return batch

    def _forward(self, batch: dict) -> dict:
        self._features.clear()
        out = super()._forward(batch)
        return {**out, "features": self._features[-1]} if self._features else out

    def _fit(self, train_samples: Sequence, val_samples: Sequence = ()) -> dict:
        if self._student_features():  # the student's pooled features for the hint
            self._hook = self.model.attribute_head.register_forward_pre_hook(
                lambda m, a: self._features.append(a[0]) if m.training else None)
        self.teacher.model.to(self.device)
        try:
            summary = super()._fit(train_samples, val_samples)
        finally:
            if self._hook is not None:
                self._hook.remove()
        summary["distillation"] = {**self.distill.to_dict(), "teacher": str(self.teacher.path),
                                   "teacher_model": self.teacher.name,
                                   "teacher_input_size": self.teacher.preprocess.input_size}
        return summary


def _pooled_width(model) -> int:
    """The width of the pooled features the heads read (their first linear layer's input)."""
    return next(m for m in model.attribute_head.modules() if isinstance(m, nn.Linear)).in_features
