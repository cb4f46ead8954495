"""Attribute losses: exclusive groups trained as groups, multi-label groups as rare-positive sigmoids.

``grouped`` (the default; the multi-task transformer paper's attribute x value heads):

- a mutually exclusive group with >= 2 values is one softmax: cross-entropy over the group's
  logits, rows whose group label is unknown (no +1 in the group) masked out, divided by
  log(K) so a 34-value colour group and a 3-value fit group start at the same loss (1);
- a multi-label group keeps one sigmoid per attribute with the asymmetric loss (Ridnik et al.,
  ICCV 2021: gamma- = 4, gamma+ = 0, negatives' probability shifted by 0.05), which down-weights
  the many easy negatives of 1-5 % positive attributes; unknown labels contribute nothing; the
  sum over known labels is divided by the positives in the batch (RetinaNet's normaliser), so a
  group's loss is per positive, comparable to a softmax group's (``bce``: a mean over known labels);
- the attribute loss is the mean over the groups.

``paper``: the MSFAN paper's weighted BCE over every attribute (losses.multitask.weighted_bce).
The schema records which groups were trained as softmax (``LabelSchema.softmax_groups``); the
runtime reads their scores as a softmax over the group.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgefashion.errors import BadInput

ATTRIBUTE_LOSSES = ("grouped", "paper")          # grouped: this module; paper: weighted BCE
MULTILABEL_LOSSES = ("asymmetric", "focal", "bce")


def softmax_groups(schema) -> tuple[str, ...]:
    """The exclusive groups trained as a softmax: those with >= 2 values (a one-value group warns
    and stays a sigmoid: a softmax over one value always says 1)."""
    members = schema.group_indices()
    out = []
    for g in schema.exclusive_groups:
        if len(members[g]) >= 2:
            out.append(g)
        elif members[g]:
            warnings.warn(f"exclusive group {g!r} has a single value "
                          f"({schema.attribute_names[members[g][0]]!r}); it is trained as a sigmoid "
                          "(a softmax over one value carries no information)", stacklevel=2)
    return tuple(out)


def training_schema(schema, attribute_loss: str = "grouped"):
    """The schema a model trained with ``attribute_loss`` carries (its softmax groups set)."""
    if attribute_loss not in ATTRIBUTE_LOSSES:
        raise BadInput(f"attribute_loss {attribute_loss!r} must be one of {', '.join(ATTRIBUTE_LOSSES)}")
    groups = softmax_groups(schema) if attribute_loss == "grouped" else ()
    return schema.replace(softmax_groups=groups)


class GroupedAttributeLoss(nn.Module):
    """logits, labels: (N, A), labels 1 / -1 / 0 (unknown) -> the mean of the per-group losses."""

    def __init__(self, schema, multilabel: str = "asymmetric", unknown: Sequence[int] = (0,),
                 label_smoothing: float = 0.0, gamma_neg: float = 4.0, gamma_pos: float = 0.0,
                 clip: float = 0.05) -> None:
        super().__init__()
        if multilabel not in MULTILABEL_LOSSES:
            raise BadInput(f"multilabel loss {multilabel!r} must be one of {', '.join(MULTILABEL_LOSSES)}")
        members = schema.group_indices()
        soft = set(schema.softmax_groups)
        self.softmax = [members[g] for g in schema.groups if g in soft and members[g]]
        self.multilabel = [members[g] for g in schema.groups if g not in soft and members[g]]
        self.kind, self.unknown = multilabel, tuple(unknown)
        self.label_smoothing = float(label_smoothing)
        self.gamma_neg, self.gamma_pos, self.clip = float(gamma_neg), float(gamma_pos), float(clip)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        losses = [self._softmax_group(logits[:, idx], labels[:, idx]) for idx in self.softmax]
        losses += [self._multilabel_group(logits[:, idx], labels[:, idx]) for idx in self.multilabel]
        losses = [v for v in losses if v is not None]
        if not losses:
            return logits.sum() * 0.0
        return torch.stack(losses).mean()

    def _softmax_group(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        pos = y == 1
        valid = pos.sum(1) == 1  # rows with one known value (unknown rows: no +1)
        if not bool(valid.any()):
            return None
        target = pos[valid].float().argmax(1)
        ce = F.cross_entropy(z[valid], target, label_smoothing=self.label_smoothing)
        return ce / math.log(z.shape[1])

    def _multilabel_group(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        known = torch.ones_like(y, dtype=torch.bool)
        for u in self.unknown:
            known &= y != u
        if not bool(known.any()):
            return None
        t = (y == 1).to(z.dtype)
        per = multilabel_loss(z, t, self.kind, self.gamma_neg, self.gamma_pos, self.clip)
        if self.kind == "bce":  # plain BCE: a mean over the known labels
            return (per * known).sum() / known.sum()
        n_pos = (t * known).sum().clamp(min=1.0)
        return (per * known).sum() / n_pos


def multilabel_loss(z: torch.Tensor, t: torch.Tensor, kind: str, gamma_neg: float = 4.0,
                    gamma_pos: float = 0.0, clip: float = 0.05) -> torch.Tensor:
    """Element-wise loss of sigmoid logits z against 0 / 1 targets t (same shape)."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(z, t, reduction="none")
    p = torch.sigmoid(z)
    log_p = F.logsigmoid(z)
    if kind == "focal":  # Lin et al.: gamma 2 on both sides
        log_q = F.logsigmoid(-z)
        return -(t * (1 - p) ** 2 * log_p + (1 - t) * p ** 2 * log_q)
    p_neg = (p - clip).clamp(min=0) if clip > 0 else p  # asymmetric probability shifting
    log_q = torch.log((1 - p_neg).clamp(min=1e-8))
    return -(t * (1 - p) ** gamma_pos * log_p + (1 - t) * p_neg ** gamma_neg * log_q)
