"""The optimizer: Adam / AdamW over parameter groups, the pretrained backbone at a lower lr.

A model names its pretrained part with ``model.backbone_parameters()`` (models.contract's
GarmentModule: by default every parameter whose name starts with ``backbone.``). With
``backbone_lr_mult == 1`` (or no backbone) there is one group.
Layer-wise: a model whose ``stage_param_groups()`` (input to output) is not None can keep its first
``freeze_layers`` groups frozen (no gradients: on a CPU this also skips their backward, the
high-resolution, costly part) and give each later group ``layer_decay`` times the lr of the next.
Every group records its peak lr as ``initial_lr``; the schedule scales it each step.
"""
from __future__ import annotations

import torch
from torch import nn

from edgefashion.errors import BadInput
from edgefashion.training.config import TrainConfig


def backbone_stages(model: nn.Module) -> list[list[nn.Parameter]] | None:
    return model.stage_param_groups()


def freeze_layers(model: nn.Module, n: int) -> int:
    """Freeze the backbone's first ``n`` stage groups; -> the number of parameters frozen."""
    if n <= 0:
        return 0
    stages = backbone_stages(model)
    if stages is None:
        raise BadInput(f"freeze_layers {n}: model {type(model).__name__} has no staged pretrained "
                       "backbone (stage_param_groups); use 0")
    if n > len(stages):
        raise BadInput(f"freeze_layers {n} exceeds the backbone's {len(stages)} stage groups")
    frozen = [p for group in stages[:n] for p in group]
    for p in frozen:
        p.requires_grad_(False)
    return sum(p.numel() for p in frozen)


def backbone_parameter_ids(model: nn.Module) -> set[int]:
    return {id(p) for p in model.backbone_parameters()}


def parameter_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """[{"params", "lr", "name"}]: "head" (everything new) and, with a lower lr, "backbone"."""
    params = [p for p in model.parameters() if p.requires_grad]
    bb = backbone_parameter_ids(model) if cfg.backbone_lr_mult != 1.0 else set()
    head = [p for p in params if id(p) not in bb]
    back = [p for p in params if id(p) in bb]
    groups = [{"params": head, "lr": cfg.lr, "name": "head"}] if head else []
    stages = backbone_stages(model) if cfg.layer_decay and back else None
    if stages:  # output stage at lr * mult, each stage towards the input layer_decay times less
        bb_lr, n = cfg.lr * cfg.backbone_lr_mult, len(stages)
        for i, group in enumerate(stages):
            ps = [p for p in group if p.requires_grad and id(p) in bb]
            if ps:
                groups.append({"params": ps, "lr": bb_lr * cfg.layer_decay ** (n - 1 - i),
                               "name": f"backbone{i}"})
        staged = {id(p) for g in groups[1:] for p in g["params"]}
        back = [p for p in back if id(p) not in staged]
    if back:
        groups.append({"params": back, "lr": cfg.lr * cfg.backbone_lr_mult, "name": "backbone"})
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    freeze_layers(model, cfg.freeze_layers)
    groups = parameter_groups(model, cfg)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    opt = cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    for g in opt.param_groups:
        g.setdefault("initial_lr", g["lr"])
    return opt


def add_group(opt: torch.optim.Optimizer, params: list, lr: float | None = None, name: str = "loss"
              ) -> None:
    """Another group (e.g. a loss's learned weights) that follows the same schedule."""
    lr = opt.defaults["lr"] if lr is None else lr
    opt.add_param_group({"params": params, "lr": lr, "initial_lr": lr, "name": name})
