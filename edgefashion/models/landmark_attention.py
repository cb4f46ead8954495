"""Landmark-driven attention (Liu & Lu, papers/landmark-driven-attention-upsampling.txt).

VGG-16 up to conv4_3 (S/8: 28 x 28 at 224); then two branches:

- landmark branch: 1x1 conv to 64 channels, three stages of (two 3x3 convs + a 4x4 transposed
  conv, stride 2, padding 1) -- 28 -> 56 -> 112 -> 224, channels 64 -> 64 -> 32 -> 16 -- and a
  1x1 conv to 8 full-resolution heatmaps M' (L2 loss against Gaussian targets, masked by
  visibility);
- attention branch: concat(conv4_3 F, max over landmarks of M' bilinearly downsampled to F's
  size) -> 1x1 conv to 32 -> two (3x3 conv + 2x2 max pool) to S/32 -> two 4x4 transposed convs
  back to S/8 with F's channels -> sigmoid = A;  F_new = (1/2 + A) o F.

F_new goes through pool4 / conv5 / pool5 of VGG-16 and two FC heads (category, attributes).
Outputs: category_logits, attribute_logits, landmarks (N, 8, 3) -- x, y normalised to the model
input by a soft-argmax over each heatmap, confidence = the heatmap peak in [0, 1] -- and
attention (N, 1, S/8, S/8), the channel mean of A. ``training_forward`` also returns
"landmark_heatmaps" (N, 8, S, S) for the loss (not exported).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgefashion.errors import BadInput, ShapeError
from edgefashion.labels.landmarks import LANDMARK_NAMES
from edgefashion.models.heatmaps import masked_heatmap_l2, peak_confidence, soft_argmax
from edgefashion.models.layers import fc_head as _head, is_tracing as _tracing
from edgefashion.models.registry import register_model
from edgefashion.models.vgg import block_bounds, scaled, vgg16_backbone
from edgefashion.models.contract import GarmentModule, check_input_size, check_width

BRANCH_CHANNELS = (64, 64, 32, 16)  # the paper: 28x28x64 -> 56x56x64 -> ... -> 224x224x16


@dataclass(frozen=True)
class LandmarkAttentionConfig:
    width: float = 1.0                 # channel multiplier (small CPU models: 0.125 .. 0.5)
    input_size: int = 224
    batch_norm: bool = False           # VGG-16-BN backbone (and BN in the branches)
    head_dim: int = 1024
    dropout: float = 0.5
    attention_channels: int = 32       # the attention branch's width (paper: 32)
    heatmap_sigma: float = 0.02        # Gaussian target sigma, fraction of the input side
    softargmax_beta: float = 40.0      # sharpness of the soft-argmax that reads the heatmaps
    landmark_weight: float = 100.0     # lambda of the heatmap L2 loss (a mean over all pixels)
    landmark_names: tuple[str, ...] = LANDMARK_NAMES
    backbone_weights: str | None = None  # local torchvision ImageNet file; never downloaded

    def __post_init__(self) -> None:
        object.__setattr__(self, "landmark_names", tuple(str(n) for n in self.landmark_names))
        check_input_size(self.input_size, "VGG has 5 pools")
        check_width(self.width)
        if not self.landmark_names or len(set(self.landmark_names)) != len(self.landmark_names):
            raise BadInput(f"landmark_names {self.landmark_names} must be distinct and not empty")
        if self.heatmap_sigma <= 0 or self.softargmax_beta <= 0 or self.landmark_weight < 0:
            raise BadInput(f"heatmap_sigma {self.heatmap_sigma} and softargmax_beta "
                           f"{self.softargmax_beta} must be > 0, landmark_weight "
                           f"{self.landmark_weight} >= 0")
        if self.attention_channels < 1 or self.head_dim < 1:
            raise BadInput(f"attention_channels {self.attention_channels} and head_dim "
                           f"{self.head_dim} must be >= 1")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["landmark_names"] = list(self.landmark_names)
        return d


def _conv(cin: int, cout: int, k: int, bn: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=k // 2)]
    return layers + ([nn.BatchNorm2d(cout)] if bn else []) + [nn.ReLU(inplace=True)]


def _landmark_branch(cin: int, width: float, points: int, bn: bool) -> nn.Sequential:
    """(N, C4, S/8, S/8) -> (N, K, S, S) heatmaps (linear output, regressed to the targets)."""
    ch = [scaled(c, width) for c in BRANCH_CHANNELS]
    layers = _conv(cin, ch[0], 1, bn)
    for a, b in zip(ch[:-1], ch[1:]):
        layers += _conv(a, a, 3, bn) + _conv(a, a, 3, bn)
        layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
    head = nn.Conv2d(ch[-1], points, 1)
    nn.init.normal_(head.weight, std=1e-3)  # start near the all-zero map: the loss is then the
    nn.init.zeros_(head.bias)               # targets' energy, and training learns the peaks
    return nn.Sequential(*layers, head)


def _attention_branch(cin: int, mid: int, cout: int, bn: bool) -> nn.Sequential:
    """(N, C4 + 1, h, w) -> A (N, C4, h, w) in (0, 1); h and w divisible by 4."""
    return nn.Sequential(
        *_conv(cin, mid, 1, bn),
        *_conv(mid, mid, 3, bn), nn.MaxPool2d(2),
        *_conv(mid, mid, 3, bn), nn.MaxPool2d(2),
        nn.ConvTranspose2d(mid, mid, 4, stride=2, padding=1), nn.ReLU(inplace=True),
        nn.ConvTranspose2d(mid, cout, 4, stride=2, padding=1), nn.Sigmoid(),
    )


@register_model("landmark_attention")
class LandmarkAttention(GarmentModule):
    config_class = LandmarkAttentionConfig
    tiny_config = {"width": 0.125, "input_size": 64, "batch_norm": True, "head_dim": 64}

    def __init__(self, num_categories: int, num_attributes: int, **cfg) -> None:
        super().__init__()
        self.cfg = LandmarkAttentionConfig(**cfg)
        c = self.cfg
        self.num_categories, self.num_attributes = num_categories, num_attributes
        self.landmark_names = list(c.landmark_names)
        self.features = vgg16_backbone(c.width, c.batch_norm, c.backbone_weights)
        self._pool4 = block_bounds(self.features)[3]
        dim = scaled(512, c.width)
        self.landmark_branch = _landmark_branch(dim, c.width, len(c.landmark_names), c.batch_norm)
        self.attention_branch = _attention_branch(dim + 1, scaled(c.attention_channels, c.width),
                                                  dim, c.batch_norm)
        flat = dim * (c.input_size // 32) ** 2
        self.category_head = _head(flat, c.head_dim, num_categories, c.dropout)
        self.attribute_head = _head(flat, c.head_dim, num_attributes, c.dropout)

    @property
    def config(self) -> dict:
        return {"name": self.model_name, **self.cfg.to_dict(), "backbone_weights": None}

    @property
    def output_names(self) -> list[str]:
        return ["category_logits", "attribute_logits", "landmarks", "attention"]

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image: (N, 3, S, S) -> category_logits (N, C), attribute_logits (N, A),
        landmarks (N, K, 3) normalised (x, y, confidence), attention (N, 1, S/8, S/8)."""
        out = self._run(image)
        del out["landmark_heatmaps"]
        return out

    def training_forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """forward plus "landmark_heatmaps" (N, K, S, S), which the landmark loss needs."""
        return self._run(batch["image"])

    def _run(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        s = self.cfg.input_size
        if not _tracing() and (image.dim() != 4 or image.shape[1] != 3 or image.shape[-1] != s
                               or image.shape[-2] != s):
            raise BadInput(f"landmark_attention expects (N, 3, {s}, {s}); got {tuple(image.shape)}")
        f = self.features[:self._pool4](image)                       # conv4_3: (N, C4, S/8, S/8)
        heat = self.landmark_branch(f)                               # M': (N, K, S, S)
        info = F.interpolate(heat, size=f.shape[-2:], mode="bilinear", align_corners=False)
        a = self.attention_branch(torch.cat([f, info.amax(dim=1, keepdim=True)], dim=1))
        x = self.features[self._pool4:]((0.5 + a) * f)               # F_new = (1/2 + A) o F
        x = torch.flatten(x, 1)
        points = soft_argmax(heat, self.cfg.softargmax_beta)
        landmarks = torch.cat([points, peak_confidence(heat).unsqueeze(-1)], dim=-1)
        return {"category_logits": self.category_head(x), "attribute_logits": self.attribute_head(x),
                "landmarks": landmarks, "attention": a.mean(dim=1, keepdim=True),
                "landmark_heatmaps": heat}

    def make_loss(self, schema, train_samples, train_cfg) -> nn.Module:
        """Category CE + weighted attribute BCE (losses.multitask) + lambda * heatmap L2."""
        return LandmarkLoss(_base_loss(schema, train_samples, train_cfg), self.cfg.landmark_weight,
                            self.cfg.heatmap_sigma)


class LandmarkLoss(nn.Module):
    """base(out, batch) + weight * L2(heatmaps, Gaussian targets of batch["landmarks"]).

    The landmark term is skipped (reported as 0) when the batch has no "landmarks" (a dataset
    without landmark labels) or none of its points is visible.
    """

    def __init__(self, base: nn.Module, weight: float, sigma: float) -> None:
        super().__init__()
        self.base, self.weight, self.sigma = base, float(weight), float(sigma)

    def forward(self, out: dict, batch: dict) -> dict:
        parts = self.base(out, batch)
        heat, points = out.get("landmark_heatmaps"), batch.get("landmarks")
        l_lm = None
        if heat is not None and points is not None:
            if points.shape[1] != heat.shape[1]:
                raise ShapeError(f"batch has {points.shape[1]} landmarks per image but the model "
                                 f"predicts {heat.shape[1]}; set landmark_names to match the data")
            l_lm = masked_heatmap_l2(heat, points, self.sigma)
        if l_lm is None:
            parts["landmarks"] = parts["loss"].new_zeros(())
            return parts
        parts["landmarks"] = l_lm
        parts["loss"] = parts["loss"] + self.weight * l_lm
        return parts


def _base_loss(schema, train_samples, train_cfg) -> nn.Module:
    """The default category + attribute loss (losses.multitask.MultiTaskLoss)."""
    from edgefashion.losses.multitask import multitask_loss

    return multitask_loss(schema, train_samples, train_cfg)
