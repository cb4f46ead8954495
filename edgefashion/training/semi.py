"""Teacher-student semi-supervised training (papers/msfan-*.txt §4.4.1, eq. 4-6).

Every batch mixes labelled images with unlabelled ones (``unlabelled_ratio`` of them per labelled
image; 1.0 = equal proportion, as in the paper). A frozen teacher -- any edgefashion checkpoint,
typically MSFAN -- sees each unlabelled image through its OWN preprocessing and gives a pseudo
label: its maximum-probability category (and, when ``pseudo_attributes``, its attributes scoring
at or above the teacher schema's thresholds). The student then minimises eq. 4:

    L = (Loss_l + Loss_ul) / sigma1^2  +  Loss_st / sigma2^2  +  log sigma1  +  log sigma2

Loss_l: the student's supervised loss (its own ``make_loss`` or the default CE + weighted BCE) on
the labelled rows. Loss_st: the same loss on the unlabelled rows against the teacher's pseudo
labels. Loss_ul: entropy of the student's unlabelled predictions, category form (eq. 5: -sum_k
h_k log(h_k + 1e-5), averaged over images) plus weighted attribute form (eq. 6, with the training
set's positive / negative weights w_p, w_n; averaged over images and attributes, like the
supervised weighted BCE). sigma1, sigma2 are learned (stored as log sigma, initialised to 1).

    SemiSupervisedTrainer(student, schema, preprocess, cfg, out_dir, SemiConfig(teacher="t.pt"),
                          unlabelled=read_unlabelled("photos/")).fit(train_samples, val_samples)

Checkpoints, resume, time budget, validation and progress come from ``Trainer``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from edgefashion.data import GarmentDataset, Sample, attribute_matrix, make_loader, read_image_list
from edgefashion.errors import BadInput, DatasetError, SchemaError
from edgefashion.labels import LabelSchema
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess
from edgefashion.data.augment import augment_preset
from edgefashion.losses.multitask import attribute_weights, build_loss
from edgefashion.training.optim import add_group
from edgefashion.training.trainer import Trainer

EPS = 1e-5  # the paper's log(h + 1e-5)


@dataclass(frozen=True)
class SemiConfig:
    teacher: str                        # teacher checkpoint (.pt written by `edgefashion train`)
    unlabelled_ratio: float = 1.0       # unlabelled images per labelled image in a batch
    pseudo_attributes: bool = True      # also take the teacher's attributes (score >= threshold)
    min_confidence: float = 0.0         # ignore pseudo categories below this teacher probability
    sigma_lr: float | None = None       # learning rate of log sigma1/2 (None: the model's lr)

    def __post_init__(self) -> None:
        if not 0 < self.unlabelled_ratio <= 16:
            raise BadInput(f"unlabelled_ratio {self.unlabelled_ratio} must lie in (0, 16]; "
                           "1.0 mixes labelled and unlabelled images in equal proportion")
        if not 0 <= self.min_confidence < 1:
            raise BadInput(f"min_confidence {self.min_confidence} must lie in [0, 1)")
        if self.sigma_lr is not None and self.sigma_lr <= 0:
            raise BadInput(f"sigma_lr {self.sigma_lr} must be > 0 (or None for the model's lr)")

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------- the teacher
class Teacher:
    """A frozen checkpoint giving pseudo labels in the student's label space (matched by name)."""

    def __init__(self, path: str | Path, student_schema: LabelSchema, device: str = "cpu",
                 pseudo_attributes: bool = True, min_confidence: float = 0.0) -> None:
        from edgefashion.models import load_checkpoint

        model, info = load_checkpoint(path, map_location="cpu")
        self.path, self.schema, self.preprocess = Path(path), info["schema"], info["preprocess"]
        self.name = info["raw"]["model"]
        self.model = model.to(device).eval().requires_grad_(False)
        self.device, self.min_confidence = torch.device(device), float(min_confidence)
        self.category_map = _name_map(self.schema.category_names, student_schema.category_names)
        if (self.category_map < 0).all():
            raise SchemaError(
                f"teacher {str(path)!r} has categories {self.schema.category_names[:5]}... and the "
                f"student {student_schema.category_names[:5]}...: no name in common, so its pseudo "
                "labels mean nothing here; use a teacher trained on the same categories")
        s_attr = student_schema.attribute_names
        self.attr_index = [s_attr.index(n) if n in s_attr else -1 for n in self.schema.attribute_names]
        if not pseudo_attributes:
            self.attr_index = [-1] * len(self.attr_index)
        self.thresholds = torch.as_tensor(self.schema.thresholds(), device=self.device)
        self.num_student_attributes = student_schema.num_attributes

    @torch.no_grad()
    def pseudo_labels(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images: (N, 3, S_t, S_t), teacher-preprocessed -> category (N,) int64 in the student's
        indices (-1: not a student category / below min_confidence), attributes (N, A_student)
        float in {1, -1, 0 = unknown}."""
        out = self.model(images.to(self.device))
        prob, idx = (out["category_logits"].float() / self.schema.category_temperature).softmax(1).max(1)
        cat = torch.as_tensor(self.category_map, device=self.device)[idx]
        cat = torch.where(prob >= self.min_confidence, cat, torch.full_like(cat, -1))
        attrs = torch.zeros(len(images), self.num_student_attributes, device=self.device)
        keep = [(t, s) for t, s in enumerate(self.attr_index) if s >= 0]
        if keep:
            t_idx, s_idx = (list(v) for v in zip(*keep))
            on = self._attribute_labels(out["attribute_logits"].float())[:, t_idx]
            attrs[:, s_idx] = torch.where(on, 1.0, -1.0)
        return cat, attrs


    def _attribute_labels(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, A) bool: sigmoid scores above the thresholds; in the teacher's softmax groups its
        best value (the group's answer)."""
        on = logits.sigmoid() >= self.thresholds
        for idx in self.schema.softmax_indices():
            best = torch.as_tensor(idx, device=logits.device)[logits[:, idx].argmax(1)]
            on[:, idx] = False
            on[torch.arange(len(logits), device=logits.device), best] = True
        return on


def _name_map(src: Sequence[str], dst: Sequence[str]) -> np.ndarray:
    pos = {n: i for i, n in enumerate(dst)}
    return np.array([pos.get(n, -1) for n in src], np.int64)


# ---------------------------------------------------------------------------------- data
def read_unlabelled(src: str | Path) -> list[Sample]:
    """Unlabelled images from a folder (recursive), a list file or a glob; any labels are dropped."""
    return [Sample(p) for p in read_image_list(src)]


class UnlabelledDataset(GarmentDataset):
    """Like GarmentDataset, plus "teacher_image": the same (equally flipped) photo preprocessed
    with the teacher's config. Labels are unknown: category -1, attributes 0."""

    def __init__(self, samples: Sequence[Sample], preprocess_cfg: PreprocessConfig,
                 teacher_cfg: PreprocessConfig, num_attributes: int, flip_prob: float = 0.5) -> None:
        super().__init__([Sample(s.path, bbox=s.bbox) for s in samples], preprocess_cfg, train=True,
                         flip_prob=flip_prob, num_attributes=num_attributes)
        self.teacher_cfg = teacher_cfg

    def __getitem__(self, index: int) -> dict:
        img, bbox = self.load(index)
        if self.flip_prob > 0 and float(torch.rand(())) < self.flip_prob:  # as GarmentDataset
            img = np.ascontiguousarray(img[:, ::-1])
            if bbox is not None:
                w = img.shape[1]
                bbox = (w - bbox[2], bbox[1], w - bbox[0], bbox[3])
        try:
            views = [torch.from_numpy(preprocess(img, c, bbox)) for c in (self.cfg, self.teacher_cfg)]
        except BadInput as e:
            raise DatasetError(f"unlabelled image {index} ({self.samples[index].path}): {e}") from None
        return {"image": views[0], "teacher_image": views[1], "category": torch.tensor(-1),
                "attributes": torch.zeros(self.num_attributes), "index": index}


class MixedLoader:
    """Labelled batches, each joined by ``ratio`` times as many unlabelled images (the unlabelled
    loader cycles). A joined batch has the labelled rows first and a bool "unlabelled" (N,) mask;
    keys only the labelled rows have (e.g. "landmarks") are zero-filled for the others, and
    "teacher_image" holds the unlabelled rows only."""

    def __init__(self, labelled, unlabelled, ratio: float) -> None:
        self.labelled, self.unlabelled, self.ratio = labelled, unlabelled, float(ratio)

    def __len__(self) -> int:
        return len(self.labelled)

    def __iter__(self):
        stream = iter(self.unlabelled)
        for lb in self.labelled:
            try:
                ub = next(stream)
            except StopIteration:
                stream = iter(self.unlabelled)
                ub = next(stream)
            n_u = max(1, round(len(lb["image"]) * self.ratio))
            yield _join(lb, {k: v[:n_u] for k, v in ub.items()})


def _join(lb: dict, ub: dict) -> dict:
    n_l, n_u = len(lb["image"]), len(ub["image"])
    out = {}
    for k, v in lb.items():
        if not torch.is_tensor(v):
            out[k] = v
        elif k in ub:
            out[k] = torch.cat([v, ub[k].to(v.dtype)])
        else:
            out[k] = torch.cat([v, v.new_zeros((n_u, *v.shape[1:]))])
    out.update({k: v for k, v in ub.items() if k not in lb})
    out["unlabelled"] = torch.cat([torch.zeros(n_l, dtype=torch.bool), torch.ones(n_u, dtype=torch.bool)])
    return out


# ---------------------------------------------------------------------------------- the loss
def category_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Eq. 5: -(1/M) sum_k h_k . log(h_k + 1e-5), h = softmax(logits); logits (M, C)."""
    if logits.numel() == 0:
        return logits.sum() * 0.0
    h = logits.float().softmax(1)
    return -(h * torch.log(h + EPS)).sum(1).mean()


def attribute_entropy(logits: torch.Tensor, w_pos: torch.Tensor, w_neg: torch.Tensor) -> torch.Tensor:
    """Eq. 6: weighted binary entropy of h = sigmoid(logits) (M, A), averaged over M and A."""
    if logits.numel() == 0:
        return logits.sum() * 0.0
    h = logits.float().sigmoid()
    ent = w_pos * h * torch.log(h + EPS) + w_neg * (1 - h) * torch.log(1 - h + EPS)
    return -ent.mean()


class SemiSupervisedLoss(nn.Module):
    """Eq. 4 over a joined batch (see the module docstring); parameters: log_sigma1, log_sigma2."""

    def __init__(self, supervised: nn.Module, w_pos: np.ndarray, w_neg: np.ndarray,
                 w_c: float = 1.0, w_a: float = 1.0) -> None:
        super().__init__()
        self.supervised = supervised
        self.register_buffer("w_pos", torch.as_tensor(w_pos))
        self.register_buffer("w_neg", torch.as_tensor(w_neg))
        self.w_c, self.w_a = float(w_c), float(w_a)
        self.log_sigma1 = nn.Parameter(torch.zeros(()))  # supervised + entropy (Loss_l + Loss_ul)
        self.log_sigma2 = nn.Parameter(torch.zeros(()))  # teacher's pseudo labels (Loss_st)

    def forward(self, out: dict, batch: dict) -> dict:
        mask = batch["unlabelled"]
        out_l, out_u = _rows(out, ~mask), _rows(out, mask)
        batch_l, batch_u = _rows(batch, ~mask), _rows(batch, mask)
        batch_u["category"], batch_u["attributes"] = batch_u["pseudo_category"], batch_u["pseudo_attributes"]
        l_l = self.supervised(out_l, batch_l)["loss"]
        l_st = self.supervised(out_u, batch_u)["loss"]
        h_c = category_entropy(out_u["category_logits"])
        h_a = attribute_entropy(out_u["attribute_logits"], self.w_pos, self.w_neg)
        l_ul = self.w_c * h_c + self.w_a * h_a
        s1, s2 = self.log_sigma1, self.log_sigma2
        total = torch.exp(-2 * s1) * (l_l + l_ul) + torch.exp(-2 * s2) * l_st + s1 + s2
        return {"loss": total, "labelled": l_l.detach(), "student": l_st.detach(),
                "entropy_category": h_c.detach(), "entropy_attributes": h_a.detach(),
                "sigma1": s1.detach().exp(), "sigma2": s2.detach().exp()}

    def sigmas(self) -> dict[str, float]:
        return {"sigma1": float(self.log_sigma1.detach().exp()),
                "sigma2": float(self.log_sigma2.detach().exp())}


def _rows(d: dict, mask: torch.Tensor) -> dict:
    """The rows of every per-image tensor (leading dim N) selected by ``mask``; others kept."""
    n = len(mask)
    return {k: v[mask] if torch.is_tensor(v) and v.dim() > 0 and len(v) == n else v
            for k, v in d.items()}


# ---------------------------------------------------------------------------------- the trainer
class SemiSupervisedTrainer(Trainer):
    """``Trainer`` whose batches mix labelled and unlabelled images and whose loss is eq. 4."""

    def __init__(self, model, schema: LabelSchema, preprocess: PreprocessConfig, cfg, out_dir,
                 semi: SemiConfig, unlabelled: Sequence[Sample]) -> None:
        super().__init__(model, schema, preprocess, cfg, out_dir)
        if not unlabelled:
            raise BadInput("no unlabelled images for semi-supervised training; pass a folder with some")
        self.semi, self.unlabelled = semi, list(unlabelled)
        self.teacher = Teacher(semi.teacher, schema, cfg.device, semi.pseudo_attributes,
                               semi.min_confidence)

    def _build_loss(self, train_samples: Sequence) -> nn.Module:
        cfg = self.cfg
        supervised = build_loss(self.model, self.schema, train_samples, cfg)
        labels = attribute_matrix(train_samples, self.schema.num_attributes)
        w_pos, w_neg = attribute_weights(labels, cfg.unknown_labels)
        loss = SemiSupervisedLoss(supervised, w_pos, w_neg, cfg.w_category, cfg.w_attributes)
        if self.semi.sigma_lr is not None and len(self.opt.param_groups) == self._model_groups:
            add_group(self.opt, list(loss.parameters()), self.semi.sigma_lr, "sigma")
        return loss

    def _make_loader(self, train_samples: Sequence) -> MixedLoader:
        cfg, na = self.cfg, self.schema.num_attributes
        labelled = GarmentDataset(train_samples, self.preprocess, train=True, flip_prob=cfg.flip_prob,
                                  num_attributes=na, augment=augment_preset(cfg.augment))
        unl = UnlabelledDataset(self.unlabelled, self.preprocess, self.teacher.preprocess, na,
                                cfg.flip_prob)
        n_u = max(1, round(cfg.batch_size * self.semi.unlabelled_ratio))
        return MixedLoader(
            make_loader(labelled, cfg.batch_size, shuffle=True, num_workers=cfg.num_workers, seed=cfg.seed),
            make_loader(unl, n_u, shuffle=True, num_workers=cfg.num_workers, seed=cfg.seed + 1,
                        drop_last=len(unl) >= n_u),
            self.semi.unlabelled_ratio)

    def _prepare_batch(self, batch: dict) -> dict:
        batch = super()._prepare_batch(batch)
        mask = batch["unlabelled"]
        cat, attrs = self.teacher.pseudo_labels(batch.pop("teacher_image"))
        batch["pseudo_category"] = torch.full_like(batch["category"], -1).masked_scatter(mask, cat)
        pseudo = torch.zeros_like(batch["attributes"])
        pseudo[mask] = attrs.to(pseudo.dtype)
        batch["pseudo_attributes"] = pseudo
        return batch

    def fit(self, train_samples: Sequence, val_samples: Sequence = ()) -> dict:
        summary = super().fit(train_samples, val_samples)
        summary["semi_supervised"] = {**self.semi.to_dict(), "teacher_model": self.teacher.name,
                                      "unlabelled_images": len(self.unlabelled),
                                      **self.loss_fn.sigmas()}
        return summary


def semi_trainer(model, schema: LabelSchema, preprocess: PreprocessConfig, cfg, out_dir,
                 semi: SemiConfig, unlabelled: str | Path) -> SemiSupervisedTrainer:
    """The trainer for ``semi`` with the images of ``unlabelled`` (a folder, list file or glob)."""
    images = read_unlabelled(unlabelled)
    trainer = SemiSupervisedTrainer(model, schema, preprocess, cfg, out_dir, semi, images)
    t = trainer.teacher
    print(f"semi-supervised: teacher {t.name} from {t.path} ({t.schema.num_categories} categories, "
          f"input {t.preprocess.input_size}), {len(images)} unlabelled images, "
          f"{semi.unlabelled_ratio:g} per labelled image", flush=True)
    return trainer
