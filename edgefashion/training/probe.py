"""A baseline in the box: frozen ImageNet EfficientNet-Lite features and linear classifiers.

    probe = fit_probe(train_samples, schema, ProbeConfig(input_size=224))
    outs = probe_outputs(probe, val_samples)              # the dict collect_outputs builds
    report = evaluate_outputs(outs, probe.schema)         # the same report as any trained model

Features: the pretrained backbone (an installed weights package, resolved offline) after its
conv_head / BN / ReLU6, global average pooled -- (N, 1280), what a fine-tuned model's classifier
sees -- on the evaluation's preprocessing (box crop, the weights' (x - 127) / 128); training images
count twice, as themselves and horizontally flipped. Classifiers on standardised features: a
softmax for the category (when there are several), one softmax per exclusive group with >= 2
values (rows without a +1 in the group left out), independent sigmoids for every other group
(unknown 0 labels left out). Each has its own L2 strength, the one of ``l2_grid`` with the lowest
held-out loss in k-fold cross-validation on the training split (an image and its flip share a fold).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from edgefashion.errors import BadInput, unknown_name
from edgefashion.labels import LabelSchema
from edgefashion.runtime.preprocess import PreprocessConfig

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
BACKBONES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")


@dataclass(frozen=True)
class ProbeConfig:
    backbone: str = "efficientnet-lite0"   # an installed weights package (models.weights)
    input_size: int = 224
    batch_size: int = 32                   # feature extraction batch
    l2_grid: tuple[float, ...] = L2_GRID   # L2 strengths cross-validated per classifier
    folds: int = 5
    seed: int = 0                          # the folds' shuffle
    max_iter: int = 50                     # L-BFGS iterations per fit (enough to converge here)

    def __post_init__(self) -> None:
        object.__setattr__(self, "l2_grid", tuple(float(v) for v in self.l2_grid))
        if self.backbone not in BACKBONES:
            raise unknown_name("probe backbone", self.backbone, BACKBONES)
        if int(self.input_size) < 32:
            raise BadInput(f"input_size {self.input_size} is too small for the probe; use >= 32")
        if not self.l2_grid or min(self.l2_grid) <= 0:
            raise BadInput(f"l2_grid {self.l2_grid} must hold at least one value, all > 0")
        if int(self.folds) < 2 or int(self.batch_size) < 1 or int(self.max_iter) < 1:
            raise BadInput(f"folds ({self.folds}) must be >= 2, batch_size ({self.batch_size}) and "
                           f"max_iter ({self.max_iter}) >= 1")


@dataclass(frozen=True)
class Task:
    """One classifier: a softmax over ``columns`` or independent sigmoids, one per column.

    ``columns``: the attribute indices it answers; empty for the category softmax.
    """

    name: str
    kind: str              # "softmax" / "sigmoid"
    columns: tuple[int, ...] = ()


@dataclass
class LinearProbe:
    """The fitted baseline: extractor, standardisation and one (W, b) per task."""

    extractor: torch.nn.Module
    preprocess: PreprocessConfig
    schema: LabelSchema                    # with softmax_groups set to the softmax tasks
    mean: np.ndarray                       # (D,) feature standardisation
    std: np.ndarray
    heads: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # W (D, K), b (K,)
    l2: dict[str, float | None] = field(default_factory=dict)
    tasks: tuple[Task, ...] = ()
    config: ProbeConfig = field(default_factory=ProbeConfig)


def probe_schema(schema: LabelSchema) -> LabelSchema:
    """``schema`` with softmax_groups = its exclusive groups of >= 2 values (what the probe fits)."""
    idx = schema.group_indices()
    return schema.replace(softmax_groups=tuple(g for g in schema.exclusive_groups if len(idx[g]) >= 2))


def probe_tasks(schema: LabelSchema) -> list[Task]:
    """The category (when > 1) then every non-empty group, softmax or sigmoid, in schema order."""
    softmax = set(probe_schema(schema).softmax_groups)
    tasks = [Task("category", "softmax")] if schema.num_categories > 1 else []
    return tasks + [Task(g, "softmax" if g in softmax else "sigmoid", tuple(idx))
                    for g, idx in schema.group_indices().items() if idx]


def feature_extractor(spec: str = "efficientnet-lite0", input_size: int = 224
                      ) -> tuple[torch.nn.Module, PreprocessConfig]:
    """The frozen pretrained backbone (eval mode) and the preprocessing its weights expect."""
    from edgefashion.models.timm_backbones import LiteBackbone
    from edgefashion.models.weights import WEIGHT_SPECS

    if spec not in BACKBONES:
        raise unknown_name("probe backbone", spec, BACKBONES)
    net = LiteBackbone(WEIGHT_SPECS[spec].family, pretrained=spec).eval().requires_grad_(False)
    info = net.weights_info
    return net, PreprocessConfig(input_size=input_size, mean=tuple(info["mean"]), std=tuple(info["std"]))


def extract_features(net: torch.nn.Module, samples: Sequence, preprocess: PreprocessConfig,
                     batch_size: int = 32, flip: bool = False, progress: bool = False) -> np.ndarray:
    """(N, D) pooled head features of the evaluation's input tensors; with ``flip`` (2, N, D):
    [0] the images, [1] their horizontal flips (a flipped input == the flipped image's input for
    the stretch resize)."""
    from edgefashion.data import GarmentDataset

    ds = GarmentDataset(samples, preprocess, train=False)
    chunks = []
    for i in _progress(range(0, len(ds), batch_size), progress):
        x = torch.stack([ds[j]["image"] for j in range(i, min(i + batch_size, len(ds)))])
        with torch.inference_mode():
            views = [x, x.flip(-1)] if flip else [x]
            chunks.append(torch.stack([net(v).mean(dim=(2, 3)) for v in views]).numpy())
    feats = np.concatenate(chunks, axis=1) if chunks else np.zeros((1 + flip, 0, 0), np.float32)
    return feats if flip else feats[0]


def task_targets(task: Task, categories: np.ndarray, attributes: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """-> (targets, mask). softmax: class indices (N,), mask (N,) rows with a known answer;
    sigmoid: (N, K) 0 / 1 targets, mask (N, K) where the label is known (not 0)."""
    if task.name == "category" and not task.columns:
        return categories.astype(np.int64), categories >= 0
    labels = attributes[:, list(task.columns)]
    if task.kind == "softmax":
        known = (labels == 1).any(1)
        return np.where(known, np.argmax(labels == 1, axis=1), 0).astype(np.int64), known
    return (labels == 1).astype(np.float32), labels != 0


def task_loss(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean cross-entropy (softmax) or binary cross-entropy (sigmoid) over the known entries."""
    mask = mask.to(logits.dtype)
    if kind == "softmax":
        per = F.cross_entropy(logits, y, reduction="none")
    else:
        per = F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="none")
    return (per * mask).sum() / mask.sum().clamp_min(1.0)


def fit_linear(x: np.ndarray, y: np.ndarray, mask: np.ndarray, kind: str, l2: float,
               num_outputs: int, max_iter: int = 50, init=None) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch L-BFGS on mean loss + l2 / 2 * |W|^2 (bias free). x: (N, D) -> W (D, K), b (K,)."""
    xt, yt, mt = torch.from_numpy(x).double(), torch.from_numpy(y), torch.from_numpy(mask)
    w = torch.zeros(x.shape[1], num_outputs, dtype=torch.float64)
    b = torch.zeros(num_outputs, dtype=torch.float64)
    if init is not None:
        w, b = torch.from_numpy(init[0]).double().clone(), torch.from_numpy(init[1]).double().clone()
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-6, tolerance_change=1e-10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = task_loss(xt @ w + b, yt, mt, kind) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def cross_validate(x: np.ndarray, image: np.ndarray, y: np.ndarray, mask: np.ndarray, kind: str,
                   num_outputs: int, cfg: ProbeConfig) -> tuple[float, dict[float, float]]:
    """-> (the grid's L2 with the lowest mean held-out loss, {l2: loss}). ``image`` (N,) groups
    rows into images (an image and its flip share a fold); folds are a seeded shuffle of images."""
    ids = np.unique(image)
    fold_of = dict(zip(np.random.default_rng(cfg.seed).permutation(ids), np.arange(len(ids)) % cfg.folds))
    fold = np.asarray([fold_of[i] for i in image])
    losses: dict[float, list[float]] = {l2: [] for l2 in cfg.l2_grid}
    for k in range(cfg.folds):
        tr, te = fold != k, fold == k
        if not mask[te].any() or not mask[tr].any():
            continue
        init = None
        for l2 in sorted(cfg.l2_grid, reverse=True):  # strongest first, each warm-starting the next
            init = fit_linear(x[tr], y[tr], mask[tr], kind, l2, num_outputs, cfg.max_iter, init)
            logits = torch.from_numpy(x[te] @ init[0] + init[1])
            losses[l2].append(float(task_loss(logits, torch.from_numpy(y[te]), torch.from_numpy(mask[te]),
                                              kind)))
    scores = {l2: float(np.mean(v)) if v else float("nan") for l2, v in losses.items()}
    finite = {l2: s for l2, s in scores.items() if s == s}
    best = min(finite, key=lambda l2: (finite[l2], -l2)) if finite else max(cfg.l2_grid)
    return best, scores


def fit_probe(samples: Sequence, schema: LabelSchema, cfg: ProbeConfig = ProbeConfig(),
              progress: bool = False) -> LinearProbe:
    """Extract the training features (each image and its flip) and fit every task's classifier."""
    from edgefashion.data import attribute_matrix

    if not samples:
        raise BadInput("the linear probe needs training samples; the training split is empty")
    net, pre = feature_extractor(cfg.backbone, cfg.input_size)
    feats = extract_features(net, samples, pre, cfg.batch_size, flip=True, progress=progress)
    x = feats.reshape(-1, feats.shape[-1]).astype(np.float64)
    mean, std = x.mean(0), np.maximum(x.std(0), 1e-6)
    x = (x - mean) / std
    image = np.tile(np.arange(len(samples)), 2)
    cats = np.tile(np.asarray([s.category for s in samples], np.int64), 2)
    attrs = np.tile(attribute_matrix(samples, schema.num_attributes), (2, 1))
    probe = LinearProbe(net, pre, probe_schema(schema), mean, std, config=cfg,
                        tasks=tuple(probe_tasks(schema)))
    basis = row_basis(x)
    z = x @ basis
    for task in probe.tasks:
        k = schema.num_categories if not task.columns else len(task.columns)
        y, mask = task_targets(task, cats, attrs)
        if not mask.any():  # nothing known to learn from: zero logits
            probe.heads[task.name], probe.l2[task.name] = (np.zeros((x.shape[1], k)), np.zeros(k)), None
            continue
        l2, _ = cross_validate(z, image, y, mask, task.kind, k, cfg)
        w, b = fit_linear(z, y, mask, task.kind, l2, k, cfg.max_iter)
        probe.heads[task.name], probe.l2[task.name] = (basis @ w, b), l2
    return probe


def row_basis(x: np.ndarray) -> np.ndarray:
    """(D, r) orthonormal basis of the span of x's rows (N, D), r = rank <= min(N, D).

    The L2-penalised optimum of a linear model lies in that span and the penalty is rotation
    invariant, so fitting on ``x @ basis`` and mapping W back by ``basis @ W`` gives the same
    classifier (for every fold's subset too) on fewer dimensions when N < D."""
    _, s, vt = torch.linalg.svd(torch.from_numpy(x).double(), full_matrices=False)
    keep = s > (float(s[0]) if s.numel() else 0.0) * 1e-9
    return vt[keep].T.numpy()


def probe_outputs(probe: LinearProbe, samples: Sequence, progress: bool = False) -> dict[str, np.ndarray]:
    """The dict ``training.evaluate.collect_outputs`` builds: category_logits (N, C), attribute_logits
    (N, A) (each group's softmax or sigmoid logits in schema order), categories, attributes."""
    from edgefashion.data import attribute_matrix

    schema, cfg = probe.schema, probe.config
    feats = extract_features(probe.extractor, samples, probe.preprocess, cfg.batch_size, progress=progress)
    x = (feats.astype(np.float64) - probe.mean) / probe.std
    cat = np.zeros((len(samples), schema.num_categories), np.float32)
    att = np.zeros((len(samples), schema.num_attributes), np.float32)
    for task in probe.tasks:
        w, b = probe.heads[task.name]
        logits = (x @ w + b).astype(np.float32)
        if task.columns:
            att[:, list(task.columns)] = logits
        else:
            cat[:] = logits
    return {"category_logits": cat, "attribute_logits": att,
            "categories": np.asarray([s.category for s in samples], np.int64),
            "attributes": attribute_matrix(samples, schema.num_attributes)}


def _progress(it, enabled: bool):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc="features", unit="batch", leave=False, disable=None)
