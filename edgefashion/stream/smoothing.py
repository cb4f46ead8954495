"""Temporal smoothing of per-frame scores with hysteresis, so labels on a live stream do not flicker.

Scores (category probabilities and attribute sigmoid scores) are averaged over the last ``window``
frames (``method="mean"``) or with an exponential moving average (``method="ema"``). An attribute
turns on when its smoothed score reaches ``enter`` and turns off only when it falls below
``leave`` (< enter). The category changes only when another category's smoothed probability beats
the current one by ``category_margin``. Applicability and mutually exclusive groups are applied
after the hysteresis, as in single-image post-processing.
"""
from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from edgefashion.config_dict import strict_from_dict
from edgefashion.errors import BadInput
from edgefashion.runtime.postprocess import exclusive_indices, group_answers, select_attributes
from edgefashion.runtime.prediction import CategoryResult, Prediction

METHODS = ("mean", "ema")


@dataclass(frozen=True)
class SmoothingConfig:
    """window: frames averaged (1 = no smoothing); alpha: EMA weight of the newest frame
    (default 2 / (window + 1)); enter / leave: hysteresis bounds (None: enter = the attribute's
    threshold, leave = enter - gap)."""

    window: int = 5
    method: str = "mean"
    alpha: float | None = None
    enter: float | None = None
    leave: float | None = None
    gap: float = 0.1
    category_margin: float = 0.05

    def __post_init__(self) -> None:
        if int(self.window) < 1:
            raise BadInput(f"smoothing window={self.window} must be at least 1 frame")
        if self.method not in METHODS:
            raise BadInput(f"smoothing method {self.method!r} must be one of {', '.join(METHODS)}")
        if self.alpha is not None and not 0 < self.alpha <= 1:
            raise BadInput(f"smoothing alpha={self.alpha} must lie in (0, 1]")
        for name in ("enter", "leave"):
            v = getattr(self, name)
            if v is not None and not 0 < v < 1:
                raise BadInput(f"hysteresis {name}={v} must lie in (0, 1)")
        if self.enter is not None and self.leave is not None and self.leave > self.enter:
            raise BadInput(f"hysteresis leave={self.leave} must not exceed enter={self.enter}")
        if not 0 <= self.gap < 1 or not 0 <= self.category_margin < 1:
            raise BadInput(f"gap={self.gap} and category_margin={self.category_margin} must lie in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> SmoothingConfig:
        return strict_from_dict(cls, d, "smoothing options")


class ScoreSmoother:
    """Per-stream state. ``update(probs (C,), scores (A,))`` -> smoothed probs, scores, labels, top1.

    thresholds: (A,) attribute thresholds used as ``enter`` when the config has none.
    """

    def __init__(self, schema, cfg: SmoothingConfig | None = None,
                 thresholds: np.ndarray | None = None) -> None:
        self.cfg = cfg or SmoothingConfig()
        self.schema = schema
        base = schema.thresholds() if thresholds is None else np.asarray(thresholds, np.float32)
        self.enter = np.full_like(base, self.cfg.enter) if self.cfg.enter is not None else base.copy()
        leave = self.enter - self.cfg.gap if self.cfg.leave is None else np.full_like(base, self.cfg.leave)
        self.leave = np.minimum(np.clip(leave, 0.0, 1.0), self.enter)
        self._apply = schema.applicability_mask() if schema.applicability else None
        self._exclusive = exclusive_indices(schema)
        self._answered = schema.softmax_indices()
        self.reset()

    def reset(self) -> None:
        """Forget the history (a new scene: the source was reopened)."""
        self._window: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=int(self.cfg.window))
        self._ema: tuple[np.ndarray, np.ndarray] | None = None
        self.on = np.zeros(len(self.enter), bool)
        self.category: int | None = None

    def update(self, probs: np.ndarray, scores: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """probs: (C,) category probabilities; scores: (A,) attribute scores of one frame.

        Returns (smoothed probs (C,), smoothed scores (A,), labels (A,) bool, category index).
        """
        probs = np.asarray(probs, np.float32)
        scores = np.asarray(scores, np.float32)
        sp, ss = self._smooth(probs, scores)
        self.on = np.where(self.on, ss >= self.leave, ss >= self.enter)
        self.category = self._pick_category(sp)
        # select_attributes keeps labels with score >= threshold: 0 keeps every "on" label, 2 none
        thr = np.where(self.on, 0.0, 2.0).astype(np.float32)
        labels = select_attributes(ss[None], thr, np.array([self.category]), self._apply,
                                   self._exclusive, self._answered)[0]
        return sp, ss, labels, self.category

    def _smooth(self, probs: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.cfg.method == "ema":
            a = self.cfg.alpha if self.cfg.alpha is not None else 2.0 / (self.cfg.window + 1)
            if self._ema is None:
                self._ema = (probs, scores)
            else:
                p0, s0 = self._ema
                self._ema = (a * probs + (1 - a) * p0, a * scores + (1 - a) * s0)
            return self._ema
        self._window.append((probs, scores))
        return (np.mean([p for p, _ in self._window], axis=0),
                np.mean([s for _, s in self._window], axis=0))

    def _pick_category(self, probs: np.ndarray) -> int:
        best = int(np.argmax(probs))
        cur = self.category
        if cur is None or cur >= len(probs):
            return best
        return best if probs[best] >= probs[cur] + self.cfg.category_margin else cur


def make_smoother(smoothing: Any, schema, thresholds: np.ndarray) -> ScoreSmoother | None:
    """A ScoreSmoother from a SmoothingConfig, its dict, a window length or True (the defaults);
    None for None / False (raw per-frame results)."""
    if smoothing is None or smoothing is False:
        return None
    if isinstance(smoothing, (bool, int)):
        cfg = SmoothingConfig() if smoothing is True else SmoothingConfig(window=smoothing)
    elif isinstance(smoothing, Mapping):
        cfg = SmoothingConfig.from_dict(smoothing)
    elif isinstance(smoothing, SmoothingConfig):
        cfg = smoothing
    else:
        raise BadInput(f"smoothing must be a SmoothingConfig, a dict, a window length or None; "
                       f"got {type(smoothing).__name__}")
    return ScoreSmoother(schema, cfg, thresholds)


def smooth_prediction(raw: Prediction, smoother: ScoreSmoother, top_k: int) -> Prediction:
    """The raw prediction with smoothed category, scores and hysteresis labels."""
    if raw.category is None or raw.category.probs is None:
        return raw
    names = list(raw.category.names)
    attr_names = list(raw.scores)
    probs, scores, labels, cat = smoother.update(raw.category.probs, np.array(list(raw.scores.values())))
    order = [int(i) for i in np.argsort(-probs, kind="stable")[:top_k] if i != cat]
    ranked = [(names[cat], float(probs[cat]))] + [(names[i], float(probs[i])) for i in order][:top_k - 1]
    category = CategoryResult(names[cat], float(probs[cat]), cat, ranked, names, probs)
    attributes = {}
    for group, idx in smoother.schema.group_indices().items():
        on = sorted((a for a in idx if labels[a]), key=lambda a: -scores[a])
        attributes[group] = [attr_names[a] for a in on]
    groups = group_answers(smoother.schema, scores, cat, smoother.schema.applicability_mask())
    return dataclasses.replace(raw, category=category, attributes=attributes, groups=groups,
                               scores=dict(zip(attr_names, scores.tolist())))
