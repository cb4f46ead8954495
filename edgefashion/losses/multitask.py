"""Losses: cross-entropy for the category; attributes by group (losses.attribute_groups) or the
paper's weighted BCE; unknown labels masked."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def attribute_weights(labels: np.ndarray, unknown: tuple[int, ...] = (0,), max_weight: float = 50.0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per-attribute (w_pos, w_neg) from the training set's positive / negative ratio.

    labels: (N, A) int in {1, -1, 0}. Balanced weighting, as in DeepFashion's weighted
    cross-entropy: w_pos = 1 / (2 p), w_neg = 1 / (2 (1 - p)), p = positives / known labels,
    clipped to ``max_weight`` so attributes seen once or never do not blow up the loss.
    """
    if labels.size == 0:
        return np.ones(labels.shape[1:], np.float32), np.ones(labels.shape[1:], np.float32)
    known = ~np.isin(labels, unknown)
    pos = ((labels == 1) & known).sum(0).astype(np.float64)
    total = known.sum(0).astype(np.float64)
    p = np.clip(pos / np.maximum(total, 1.0), 1e-6, 1 - 1e-6)
    w_pos = np.clip(0.5 / p, 0.0, max_weight)
    w_neg = np.clip(0.5 / (1.0 - p), 0.0, max_weight)
    return w_pos.astype(np.float32), w_neg.astype(np.float32)


def weighted_bce(logits: torch.Tensor, labels: torch.Tensor, w_pos: torch.Tensor,
                 w_neg: torch.Tensor, unknown: tuple[int, ...] = (0,)) -> torch.Tensor:
    """logits, labels: (N, A), labels in {1, -1, 0}; unknown labels contribute nothing."""
    if logits.numel() == 0:
        return logits.sum() * 0.0
    known = torch.ones_like(labels, dtype=torch.bool)
    for u in unknown:
        known &= labels != u
    target = (labels == 1).to(logits.dtype)
    weight = torch.where(target > 0, w_pos, w_neg) * known
    loss = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum")
    return loss / known.sum().clamp(min=1)


def category_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
                  ) -> torch.Tensor:
    """Cross-entropy (optionally label-smoothed); label -1 (unknown category) is ignored."""
    if (labels >= 0).sum() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=-1, label_smoothing=float(label_smoothing))


class MultiTaskLoss(torch.nn.Module):
    """total = w_c * L_c + w_a * L_a; L_a is ``attribute_loss(logits, labels)`` when given (the
    grouped loss), else the paper's weighted BCE with (w_pos, w_neg)."""

    def __init__(self, w_pos: np.ndarray, w_neg: np.ndarray, w_c: float = 1.0, w_a: float = 1.0,
                 unknown: tuple[int, ...] = (0,), label_smoothing: float = 0.0,
                 attribute_loss: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.register_buffer("w_pos", torch.as_tensor(w_pos))
        self.register_buffer("w_neg", torch.as_tensor(w_neg))
        self.w_c, self.w_a, self.unknown = w_c, w_a, tuple(unknown)
        self.label_smoothing = float(label_smoothing)
        self.attribute_loss = attribute_loss

    def forward(self, out: dict, batch: dict) -> dict:
        """out: the model's outputs; batch: the loader's dict ("category", "attributes", ...)."""
        l_c = category_loss(out["category_logits"], batch["category"], self.label_smoothing)
        l_a = self.attributes(out["attribute_logits"], batch["attributes"])
        return {"loss": self.w_c * l_c + self.w_a * l_a, "category": l_c, "attributes": l_a}

    def attributes(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.attribute_loss is not None:
            return self.attribute_loss(logits, labels)
        return weighted_bce(logits, labels, self.w_pos, self.w_neg, self.unknown)


def multitask_loss(schema, train_samples, cfg) -> MultiTaskLoss:
    """The default category + attribute loss for ``cfg.attribute_loss`` ("grouped" / "paper");
    the one place every model's loss gets its attribute term from."""
    from edgefashion.data import attribute_matrix
    from edgefashion.losses.attribute_groups import GroupedAttributeLoss

    labels = attribute_matrix(train_samples, schema.num_attributes)
    w_pos, w_neg = attribute_weights(labels, cfg.unknown_labels)
    grouped = None
    if getattr(cfg, "attribute_loss", "paper") == "grouped":
        grouped = GroupedAttributeLoss(schema, cfg.multilabel_loss, cfg.unknown_labels,
                                       getattr(cfg, "label_smoothing", 0.0))
    return MultiTaskLoss(w_pos, w_neg, cfg.w_category, cfg.w_attributes, cfg.unknown_labels,
                         getattr(cfg, "label_smoothing", 0.0), grouped)


def build_loss(model, schema, train_samples, cfg) -> torch.nn.Module:
    """The model's own loss (``model.make_loss``) or, when it has none, the default category +
    attribute loss."""
    loss = model.make_loss(schema, train_samples, cfg)
    if loss is not None:
        for m in loss.modules():  # a model loss built on MultiTaskLoss gets the recipe's smoothing
            if isinstance(m, MultiTaskLoss):
                m.label_smoothing = float(getattr(cfg, "label_smoothing", 0.0))
        return loss
    return multitask_loss(schema, train_samples, cfg)


def training_forward(model, batch: dict) -> dict:
    """``model.training_forward(batch)`` (GarmentModule's default: ``model(batch["image"])``)."""
    return model.training_forward(batch)
