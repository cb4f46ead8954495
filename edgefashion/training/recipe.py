"""The training recipes: what ``TrainConfig`` holds when the user names only what they care about.

- ``finetune`` (the default whenever the weights are pretrained): AdamW, peak lr 1e-3 for the new
  layers and a quarter of it for the pretrained backbone, 5 % linear warm-up then cosine to 1 %,
  label smoothing 0.1, random resized crop / box jitter + flip + colour jitter ("strong").
- ``scratch`` (random weights): Adam 1e-3, 3 % warm-up, cosine to 5 % of the peak (not to
  nothing: a small dataset keeps learning to the end), light augmentation.
- ``paper``: MSFAN's Adam 1e-4 divided by 10 every 2 epochs, flip only, the paper's weighted BCE
  for the attributes (``--schedule paper``).
- ``finetune`` on data with attribute groups adds ``ATTRIBUTE_FINETUNE`` (LP-FT's head fit, garment-
  keeping crops, frozen batch-norm statistics, an EMA, WiSE-FT's weight-space points between the
  head fit and the fine-tuned model scored on validation).

``recipe_config(pretrained, schedule, **overrides)``: overrides that are None are left to the recipe.
"""
from __future__ import annotations

from edgefashion.config_dict import reject_unknown_keys
from edgefashion.errors import BadInput
from edgefashion.training.config import TrainConfig

RECIPES: dict[str, dict] = {
    "finetune": {"schedule": "cosine", "optimizer": "adamw", "lr": 1e-3, "backbone_lr_mult": 0.25,
                 "weight_decay": 0.02, "warmup": 0.05, "min_lr_ratio": 0.01,
                 "label_smoothing": 0.1, "augment": "strong"},
    "scratch": {"schedule": "cosine", "optimizer": "adam", "lr": 1e-3, "backbone_lr_mult": 1.0,
                "weight_decay": 0.0, "warmup": 0.03, "min_lr_ratio": 0.05,
                "label_smoothing": 0.0, "augment": "light"},
    "paper": {"schedule": "paper", "optimizer": "adam", "lr": 1e-4, "backbone_lr_mult": 1.0,
              "weight_decay": 0.0, "warmup": 0.0, "lr_step_epochs": 2, "lr_gamma": 0.1,
              "label_smoothing": 0.0, "augment": "none", "attribute_loss": "paper"},
}


# fine-tuning on data with attribute groups (measured on deepfashion-fine-attr and
# fashion-product-small, benchmarks/results/attributes_*.json): LP-FT's head fit on frozen features
# first, crops that keep the garment whole and no saturation jitter, the backbone's ImageNet
# batch-norm statistics kept (16-photo batches of 200-600 photos replaced them within an epoch), and
# an EMA of the weights validated and saved
ATTRIBUTE_FINETUNE = {"head_epochs": 40, "augment": "attributes", "freeze_bn": True, "ema": 0.98,
                      "wise_ft": (0.25, 0.5, 0.75)}


def recipe_name(pretrained: bool, schedule: str | None = None) -> str:
    """"paper" when asked for; else "finetune" with pretrained weights, "scratch" without."""
    if schedule not in (None, "cosine", "paper"):
        raise BadInput(f"schedule {schedule!r} must be 'cosine' or 'paper'")
    if schedule == "paper":
        return "paper"
    return "finetune" if pretrained else "scratch"


def recipe_config(pretrained: bool, schedule: str | None = None, attributes: bool = False,
                  **overrides) -> TrainConfig:
    """The recipe's TrainConfig with every non-None override applied on top; ``attributes`` (the
    data has attribute groups) adds ATTRIBUTE_FINETUNE to the fine-tuning recipe."""
    reject_unknown_keys(TrainConfig, overrides, "training options")  # also those given as None
    name = recipe_name(pretrained, schedule)
    base = dict(RECIPES[name])
    if attributes and name == "finetune":
        base.update(ATTRIBUTE_FINETUNE)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**base)


def recipe_summary(cfg: TrainConfig) -> str:
    """One line saying what the recipe does (printed before training)."""
    if cfg.schedule == "paper":
        return (f"paper: {cfg.optimizer} lr {cfg.lr:g} / {1 / cfg.lr_gamma:g} every "
                f"{cfg.lr_step_epochs} epochs")
    layers = (f", layer decay {cfg.layer_decay:g}" if cfg.layer_decay else "") + (
        f", first {cfg.freeze_layers} backbone stages frozen" if cfg.freeze_layers else "")
    return (f"{cfg.optimizer} lr {cfg.lr:g} (backbone x{cfg.backbone_lr_mult:g}{layers}), warm-up "
            f"{cfg.warmup:.0%} then cosine to {cfg.min_lr_ratio:g}x, label smoothing "
            f"{cfg.label_smoothing:g}, augment {cfg.augment}, ema {cfg.ema or 'off'}, head epochs "
            f"{cfg.head_epochs}, attribute loss {cfg.attribute_loss}"
            + (f", WiSE-FT points {', '.join(f'{a:g}' for a in cfg.wise_ft)}" if cfg.wise_ft else ""))
