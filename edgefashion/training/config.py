"""Training configuration (frozen, validated, serialisable)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from edgefashion.errors import BadInput


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-4                # the paper: Adam, 1e-4, divided by 10 every 2 epochs
    lr_step_epochs: int = 2
    lr_gamma: float = 0.1
    weight_decay: float = 0.0
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
        if self.epochs < 1 or self.batch_size < 1:
            raise BadInput(f"epochs ({self.epochs}) and batch_size ({self.batch_size}) must be >= 1")
        if self.lr <= 0 or not 0 < self.lr_gamma <= 1 or self.lr_step_epochs < 1:
            raise BadInput(
                f"lr {self.lr} must be > 0, lr_gamma {self.lr_gamma} in (0, 1], "
                f"lr_step_epochs {self.lr_step_epochs} >= 1"
            )
        if not set(self.unknown_labels) <= {0, -1}:
            raise BadInput(f"unknown_labels {self.unknown_labels} may only hold 0 and/or -1")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["unknown_labels"] = list(self.unknown_labels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
