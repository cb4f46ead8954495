"""Scores that mean what they say: temperature scaling (Guo et al., ICML 2017) and its measure.

A model fine-tuned with label smoothing on a few hundred photos answers right far more often than
its softmax says (clothing-small: 93 % right at a mean score of 0.82), and a user who keeps answers
above 0.9 keeps few of them. One temperature T per softmax head (the category, each exclusive
group) divides its logits: fitted after training on the validation outputs of best.pt, stored in
the LabelSchema, applied by every backend's post-processing. It never changes a head's answer
(its argmax), only its score.

The fit minimises the head's summed negative log-likelihood plus ``PRIOR`` x (log T)^2, a prior that
pulls T towards 1 (as trained) when there are few validation rows. ``choose_temperature`` keeps the
fit only where it generalises: a ``FOLDS``-fold cross-fit on the same rows must score a lower NLL
than T = 1, else the head stays at 1. Without that check, deepfashion-fine-attr's groups (already
near T = 1, 40-50 rows each) came out slightly worse on held-out photos
(benchmarks/calibration.py).

``calibration_error``: the expected calibration error (ECE) of the top answer's score, in equal-
width bins, beside the NLL, in evaluate's report.
"""
from __future__ import annotations

import numpy as np

from edgefashion.errors import BadInput
from edgefashion.training.group_metrics import one_known_value

PRIOR = 10.0           # weight of (log T)^2 against the summed NLL (chosen by cross-fitting)
FOLDS = 5              # choose_temperature's check that a fit generalises
T_RANGE = (0.05, 20.0)
ECE_BINS = 15


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` (N,) under softmax(logits (N, K) / T)."""
    logits, labels = _checked(logits, labels)
    if not len(labels):
        return float("nan")
    lp = log_softmax(logits / float(temperature))
    return float(-lp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, prior: float = PRIOR) -> float:
    """The T in T_RANGE minimising N x nll(T) + prior x (log T)^2; 1.0 without rows."""
    logits, labels = _checked(logits, labels)
    if not len(labels) or logits.shape[1] < 2:
        return 1.0
    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    best = 0.0
    for _ in range(3):  # a grid in log T, then two finer grids around the best point
        grid = np.linspace(lo, hi, 41)
        obj = [_objective(logits, labels, u, prior) for u in grid]
        best = float(grid[int(np.argmin(obj))])
        width = (hi - lo) / 40
        lo, hi = max(best - width, np.log(T_RANGE[0])), min(best + width, np.log(T_RANGE[1]))
    return float(np.exp(best))


def choose_temperature(logits: np.ndarray, labels: np.ndarray, prior: float = PRIOR,
                       folds: int = FOLDS, seed: int = 0) -> float:
    """``fit_temperature`` on every row when its ``folds``-fold cross-fit (each fold scored with T
    fitted on the others) has a lower NLL than T = 1; else 1.0 (too few rows: fewer than 2 x folds)."""
    logits, labels = _checked(logits, labels)
    if len(labels) < 2 * folds or logits.shape[1] < 2:
        return 1.0
    scaled = raw = 0.0
    for rest, held in cross_fit_splits(len(labels), folds, seed):
        t = fit_temperature(logits[rest], labels[rest], prior)
        scaled += nll(logits[held], labels[held], t) * len(held)
        raw += nll(logits[held], labels[held]) * len(held)
    return fit_temperature(logits, labels, prior) if scaled < raw else 1.0


def cross_fit_splits(n: int, folds: int, seed: int = 0):
    """Yield (rest, held) row indices: a seeded shuffle of n rows cut into ``folds`` parts, each
    part held out once."""
    parts = np.array_split(np.random.default_rng(seed).permutation(n), folds)
    for k, held in enumerate(parts):
        yield np.concatenate([p for j, p in enumerate(parts) if j != k]), held


def _objective(logits: np.ndarray, labels: np.ndarray, log_t: float, prior: float) -> float:
    lp = log_softmax(logits / np.exp(log_t))
    return float(-lp[np.arange(len(labels)), labels].sum() + prior * log_t ** 2)


def calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: sum over equal-width bins of the top score of |accuracy - mean score| x bin share."""
    probs, labels = _checked(probs, labels)
    if not len(labels):
        return float("nan")
    conf, right = probs.max(axis=1), probs.argmax(axis=1) == labels
    which = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)  # (lo, hi] bins
    err = 0.0
    for b in np.unique(which):
        m = which == b
        err += m.mean() * abs(right[m].mean() - conf[m].mean())
    return float(err)


def _checked(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, labels = np.asarray(x, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if x.ndim != 2 or labels.shape != (x.shape[0],):
        raise BadInput(f"scores {x.shape} and labels {labels.shape} must be (N, K) and (N,)")
    if len(labels) and (labels.min() < 0 or labels.max() >= x.shape[1]):
        raise BadInput(f"labels must lie in [0, {x.shape[1]}); got {labels.min()}..{labels.max()}")
    return x, labels


def softmax_heads(outs: dict, schema) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{head: (logits (n, K), labels (n,))} over the rows with a known answer (a group: exactly one
    +1, as its loss and metrics count them): "category" (with > 1 category), then each softmax group
    (keyed by its name). Heads without such rows are left out."""
    heads = {}
    if schema.num_categories > 1:
        known = outs["categories"] >= 0
        if known.any():
            heads["category"] = (outs["category_logits"][known], outs["categories"][known])
    groups = schema.group_indices()
    for g in schema.softmax_groups:
        idx = groups[g]
        if len(idx) < 2:
            continue
        known, truth = one_known_value(np.asarray(outs["attributes"])[:, idx])
        if known.any():
            heads[g] = (np.asarray(outs["attribute_logits"])[known][:, idx], truth)
    return heads


def fit_temperatures(outs: dict, schema, prior: float = PRIOR) -> dict[str, float]:
    """{head: T} (``choose_temperature``) for every softmax head of ``schema`` with labelled rows
    in ``outs`` (collect_outputs' dict); heads without any are not in it."""
    return {h: choose_temperature(z, y, prior) for h, (z, y) in softmax_heads(outs, schema).items()}


def apply_temperatures(schema, temps: dict[str, float]):
    """The schema with these temperatures ("category" and group names) over its own: a head not
    in ``temps`` keeps the temperature it had."""
    merged = {"category": schema.category_temperature, **schema.group_temperatures, **temps}
    return schema.with_temperatures(merged.pop("category"), merged)


def calibration_report(outs: dict, schema) -> dict[str, dict]:
    """{head: {"temperature", "ece", "nll", "ece_raw", "nll_raw", "rows"}}: the scores as the
    schema's temperatures make them, beside the raw softmax (T = 1)."""
    temps = {"category": schema.category_temperature, **schema.group_temperatures}
    report = {}
    for head, (z, y) in softmax_heads(outs, schema).items():
        t = temps.get(head, 1.0)
        z64 = np.asarray(z, dtype=np.float64)
        report[head] = {"temperature": t, "rows": int(len(y)),
                        "ece": calibration_error(np.exp(log_softmax(z64 / t)), y), "nll": nll(z64, y, t),
                        "ece_raw": calibration_error(np.exp(log_softmax(z64)), y), "nll_raw": nll(z64, y)}
    return report
