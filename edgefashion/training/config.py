"""Training configuration (frozen, validated, serialisable).

Two recipes share it (``training.recipe`` fills them in):

- ``schedule="cosine"`` (the default): linear warm-up, then a cosine decay by training progress
  down to ``min_lr_ratio`` of the peak. Progress is steps done / total steps, or the fraction of
  ``max_minutes`` spent when that is larger, so a time budget still ends at a low learning rate.
  With pretrained weights the recipe adds AdamW, a lower backbone lr, label smoothing, random
  resized crops + colour jitter, and optionally an EMA of the weights.
- ``schedule="paper"``: the MSFAN paper's Adam, lr 1e-4 divided by 10 every 2 epochs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from edgefashion.config_dict import strict_from_dict
from edgefashion.errors import BadInput
from edgefashion.losses.attribute_groups import ATTRIBUTE_LOSSES, MULTILABEL_LOSSES

SCHEDULES = ("cosine", "paper")
OPTIMIZERS = ("adam", "adamw")
AUGMENTS = ("none", "light", "strong", "attributes")
# Keys TrainConfig no longer has, which checkpoints written before their removal still hold in
# train_state["config"] (read back by QAT); from_dict drops them. head_warmup: the step-based
# frozen-backbone warm-up, removed in 55f6ac2 for the one LP-FT mechanism, head_epochs.
RETIRED_KEYS = ("head_warmup",)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3                # peak lr (of the head; the backbone gets lr * backbone_lr_mult)
    schedule: str = "cosine"        # "cosine" (warm-up + cosine by progress) or "paper" (step)
    warmup: float = 0.03            # fraction of training spent warming up (cosine)
    min_lr_ratio: float = 0.02      # the cosine ends here, not at 0 (small data keeps learning)
    lr_step_epochs: int = 2         # paper: divide by 1/lr_gamma every lr_step_epochs epochs
    lr_gamma: float = 0.1
    optimizer: str = "adam"
    weight_decay: float = 0.0
    backbone_lr_mult: float = 1.0   # lr multiplier of the pretrained backbone's parameters
    layer_decay: float = 0.0        # > 0: each backbone stage gets this times the next one's lr
    freeze_layers: int = 0          # the backbone's first N stage groups stay frozen
    label_smoothing: float = 0.0    # category cross-entropy label smoothing
    augment: str = "none"           # "none" (flip only), "light", "strong" (data/augment.py)
    ema: float = 0.0                # EMA decay of the weights (0 = off); validated and saved
    head_epochs: int = 0            # LP-FT: epochs fitting the heads on cached frozen features first
    freeze_bn: bool = False         # the backbone's batch norms keep their pretrained statistics
    wise_ft: tuple[float, ...] = ()  # after head_epochs: points (1-a)*heads-only + a*fine-tuned scored
    temperature: bool = True        # fit each softmax head's temperature on validation at the end
    attribute_loss: str = "grouped"  # "grouped": softmax per exclusive group; "paper": weighted BCE
    multilabel_loss: str = "asymmetric"  # multi-label groups under "grouped": asymmetric / focal / bce
    w_category: float = 1.0
    w_attributes: float = 1.0
    unknown_labels: tuple[int, ...] = (0,)   # attribute label values that mean "unknown"
    flip_prob: float = 0.5
    max_minutes: float | None = None         # stop (with a checkpoint) when the budget is spent
    max_steps: int | None = None
    num_workers: int = 0
    threads: int | None = None
    seed: int = 0
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "unknown_labels", tuple(int(u) for u in self.unknown_labels))
        object.__setattr__(self, "wise_ft", tuple(float(a) for a in self.wise_ft))
        if self.epochs < 1 or self.batch_size < 1:
            raise BadInput(f"epochs ({self.epochs}) and batch_size ({self.batch_size}) must be >= 1")
        if self.lr <= 0 or not 0 < self.lr_gamma <= 1 or self.lr_step_epochs < 1:
            raise BadInput(
                f"lr {self.lr} must be > 0, lr_gamma {self.lr_gamma} in (0, 1], "
                f"lr_step_epochs {self.lr_step_epochs} >= 1"
            )
        for name, value, allowed in (("schedule", self.schedule, SCHEDULES),
                                     ("optimizer", self.optimizer, OPTIMIZERS),
                                     ("augment", self.augment, AUGMENTS),
                                     ("attribute_loss", self.attribute_loss, ATTRIBUTE_LOSSES),
                                     ("multilabel_loss", self.multilabel_loss, MULTILABEL_LOSSES)):
            if value not in allowed:
                raise BadInput(f"{name} {value!r} must be one of {', '.join(allowed)}")
        if not 0 <= self.warmup < 1 or not 0 <= self.min_lr_ratio <= 1:
            raise BadInput(f"warmup {self.warmup} must lie in [0, 1) and min_lr_ratio "
                           f"{self.min_lr_ratio} in [0, 1]")
        if not 0 < self.backbone_lr_mult <= 10 or self.weight_decay < 0:
            raise BadInput(f"backbone_lr_mult {self.backbone_lr_mult} must lie in (0, 10] and "
                           f"weight_decay {self.weight_decay} be >= 0")
        if not 0 <= self.layer_decay <= 1 or self.freeze_layers < 0:
            raise BadInput(f"layer_decay {self.layer_decay} must lie in [0, 1] (0 = off) and "
                           f"freeze_layers {self.freeze_layers} be >= 0")
        if not 0 <= self.label_smoothing < 1 or not (self.ema == 0 or 0.5 <= self.ema < 1):
            raise BadInput(f"label_smoothing {self.label_smoothing} must lie in [0, 1) and ema "
                           f"{self.ema} be 0 (off) or a decay in [0.5, 1), e.g. 0.998")
        if self.head_epochs < 0:
            raise BadInput(f"head_epochs {self.head_epochs} must be >= 0 (0 = off)")
        if any(not 0 < a < 1 for a in self.wise_ft):
            raise BadInput(f"wise_ft {self.wise_ft} must hold weights strictly between 0 and 1 "
                           "(0 is the heads-only model and 1 the fine-tuned one, both scored anyway)")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise BadInput(f"max_minutes {self.max_minutes} must be > 0")
        if not set(self.unknown_labels) <= {0, -1}:
            raise BadInput(f"unknown_labels {self.unknown_labels} may only hold 0 and/or -1")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["unknown_labels"] = list(self.unknown_labels)
        d["wise_ft"] = list(self.wise_ft)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "TrainConfig":
        return strict_from_dict(cls, d, "training options", retired=RETIRED_KEYS)
