"""LP-FT's first step (Kumar et al., ICLR 2022): fit the new heads on frozen features, then fine-tune.

With 200-600 training photos a randomly initialised head sends large, noisy gradients into the
pretrained backbone in the first fine-tuning steps and distorts the features a linear probe on
the same backbone uses well. So before fine-tuning, the category and attribute heads are trained
alone on the model's pooled features, computed once (in eval mode, each training image and its
horizontal flip) and cached: ``head_epochs`` passes over the cache cost seconds, not minutes.

A model offers it by declaring ``shared_pooled_heads = True``: its ``category_head`` and
``attribute_head`` both read the same pooled features (captured here with a forward pre-hook on
the attribute head); other models skip this step.
"""
from __future__ import annotations

import time
from typing import Sequence

import torch
from torch import nn

HEAD_BATCH = 64


def supports_head_warmup(model: nn.Module) -> bool:
    return bool(model.shared_pooled_heads)


@torch.no_grad()
def cache_pooled_features(model: nn.Module, samples: Sequence, preprocess, batch_size: int = 32,
                          device="cpu") -> dict[str, torch.Tensor]:
    """{"features": (2N, F), "category": (2N,), "attributes": (2N, A)}: each image and its flip."""
    from edgefashion.data import GarmentDataset

    ds = GarmentDataset(samples, preprocess, train=False)
    seen: list[torch.Tensor] = []
    hook = model.attribute_head.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    was_training = model.training
    model.eval()
    feats, cats, attrs = [], [], []
    try:
        for i in range(0, len(ds), batch_size):
            items = [ds[j] for j in range(i, min(i + batch_size, len(ds)))]
            x = torch.stack([torch.as_tensor(it["image"]) for it in items]).to(device)
            for view in (x, torch.flip(x, dims=[3])):
                seen.clear()
                model(view)
                feats.append(seen[0].float().cpu())
                cats.append(torch.as_tensor([int(it["category"]) for it in items]))
                attrs.append(torch.stack([torch.as_tensor(it["attributes"]) for it in items]).to(torch.int8))
    finally:
        hook.remove()
        model.train(was_training)
    return {"features": torch.cat(feats), "category": torch.cat(cats), "attributes": torch.cat(attrs)}


def fit_heads(model: nn.Module, cache: dict[str, torch.Tensor], loss_fn: nn.Module, epochs: int,
              lr: float, weight_decay: float, seed: int = 0) -> dict:
    """Train ``category_head`` and ``attribute_head`` on the cached features; -> a summary."""
    heads = [model.category_head, model.attribute_head]
    params = [p for h in heads for p in h.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    n, gen = len(cache["features"]), torch.Generator().manual_seed(seed)
    dev = next(model.attribute_head.parameters()).device
    steps = epochs * max(1, -(-n // HEAD_BATCH))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    for h in heads:
        h.train()
    start, last = time.monotonic(), float("nan")
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, HEAD_BATCH):
            idx = order[i:i + HEAD_BATCH]
            f = cache["features"][idx].to(dev)
            out = {"category_logits": model.category_head(f), "attribute_logits": model.attribute_head(f)}
            loss = loss_fn(out, {"category": cache["category"][idx].to(dev),
                                 "attributes": cache["attributes"][idx].to(dev)})["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            last = float(loss.item())
    return {"head_epochs": epochs, "images": n // 2, "steps": steps, "final_loss": last,
            "seconds": round(time.monotonic() - start, 1)}


def base_loss(loss_fn: nn.Module) -> nn.Module:
    """The category + attribute part of a model's loss (a model loss may wrap it)."""
    from edgefashion.losses.multitask import MultiTaskLoss

    return next((m for m in loss_fn.modules() if isinstance(m, MultiTaskLoss)), loss_fn)
