"""VSAM: pose-guided visual semantic attention (Quintino Ferreira et al.,
papers/vsam-pose-guided-attention.txt).

VGG-16; the outputs of conv blocks 2, 3 and 4 are combined at conv4_3's resolution (S/8: 28 x 28
at 224): block 2 (after pool2, S/4) is max-pooled by 2, block 3 (after pool3) and conv4_3 are
taken as they are; concat -> 1x1 conv (+ ReLU) to conv4's channels. A CBAM-style spatial
attention reads that combination: concat(channel mean, channel max) -> 7x7 conv -> sigmoid = S^,
(N, 1, S/8, S/8); the features become F o ((1 - beta) + beta S^) (beta = ``attention_weight``,
1 = CBAM's F o S^) and go through pool4 / conv5 / pool5 and two FC heads.

Training: category cross-entropy + focal loss on the attributes (gamma 2, alpha 0.6, the paper's
values) + ``fidelity`` * pixel-wise L2 between S^ and a pose heatmap S built from the keypoints
the user provides (Gaussians on the joints and along the limbs; see data/keypoints.py), for the
images that have keypoints. Output "attention" is S^.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgefashion.errors import BadInput
from edgefashion.models.heatmaps import default_limbs, skeleton_heatmap
from edgefashion.models.layers import fc_head as _head, is_tracing as _tracing
from edgefashion.models.registry import register_model
from edgefashion.models.vgg import block_bounds, scaled, vgg16_backbone
from edgefashion.models.contract import GarmentModule, check_input_size, check_width

GUIDES = ("keypoints", "landmarks", "auto")
LIMBS = ("auto", "none")


@dataclass(frozen=True)
class VSAMConfig:
    width: float = 1.0                 # channel multiplier (small CPU models: 0.125 .. 0.5)
    input_size: int = 224
    batch_norm: bool = False
    head_dim: int = 256                # FC width of each head (about 28 M parameters in all)
    dropout: float = 0.5
    attention_kernel: int = 7          # the spatial attention conv (CBAM: 7)
    attention_weight: float = 1.0      # beta: 1 = F o S^, 0 = no attention
    fidelity: float = 1.0              # weight of the heatmap L2 (the paper gives no value)
    heatmap_sigma: float = 0.05        # pose Gaussian sigma, fraction of the input side
    guide: str = "keypoints"           # supervise with batch "keypoints", "landmarks", or "auto"
    limbs: str = "auto"                # "auto": OpenPose skeleton for 18 / 25 points; "none"
    focal_gamma: float = 2.0
    focal_alpha: float = 0.6
    backbone_weights: str | None = None  # local torchvision ImageNet file; never downloaded

    def __post_init__(self) -> None:
        check_input_size(self.input_size, "VGG has 5 pools")
        check_width(self.width)
        if self.attention_kernel < 1 or self.attention_kernel % 2 == 0:
            raise BadInput(f"attention_kernel {self.attention_kernel} must be odd and >= 1")
        if not 0 <= self.attention_weight <= 1:
            raise BadInput(f"attention_weight {self.attention_weight} must lie in [0, 1]")
        if self.fidelity < 0 or self.heatmap_sigma <= 0 or self.focal_gamma < 0:
            raise BadInput(f"fidelity {self.fidelity} and focal_gamma {self.focal_gamma} must be "
                           f">= 0, heatmap_sigma {self.heatmap_sigma} > 0")
        if not 0 < self.focal_alpha < 1:
            raise BadInput(f"focal_alpha {self.focal_alpha} must lie in (0, 1)")
        if self.guide not in GUIDES or self.limbs not in LIMBS:
            raise BadInput(f"guide {self.guide!r} must be one of {', '.join(GUIDES)}; "
                           f"limbs {self.limbs!r} one of {', '.join(LIMBS)}")
        if self.head_dim < 1:
            raise BadInput(f"head_dim {self.head_dim} must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


class SpatialAttention(nn.Module):
    """S^ = sigmoid(conv_k([mean_c(x), max_c(x)])): (N, C, H, W) -> (N, 1, H, W)."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


@register_model("vsam")
class VSAM(GarmentModule):
    config_class = VSAMConfig
    tiny_config = {"width": 0.125, "input_size": 64, "batch_norm": True, "head_dim": 64}

    def __init__(self, num_categories: int, num_attributes: int, **cfg) -> None:
        super().__init__()
        self.cfg = VSAMConfig(**cfg)
        c = self.cfg
        self.num_categories, self.num_attributes = num_categories, num_attributes
        self.features = vgg16_backbone(c.width, c.batch_norm, c.backbone_weights)
        self._pools = block_bounds(self.features)
        dim = scaled(512, c.width)
        cat = scaled(128, c.width) + scaled(256, c.width) + dim
        self.combine = nn.Sequential(nn.Conv2d(cat, dim, 1), nn.ReLU(inplace=True))
        self.attention = SpatialAttention(c.attention_kernel)
        flat = dim * (c.input_size // 32) ** 2
        self.category_head = _head(flat, c.head_dim, num_categories, c.dropout)
        self.attribute_head = _head(flat, c.head_dim, num_attributes, c.dropout)

    @property
    def config(self) -> dict:
        return {"name": self.model_name, **self.cfg.to_dict(), "backbone_weights": None}

    @property
    def output_names(self) -> list[str]:
        return ["category_logits", "attribute_logits", "attention"]

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image: (N, 3, S, S) -> category_logits (N, C), attribute_logits (N, A),
        attention (N, 1, S/8, S/8) in [0, 1]."""
        s = self.cfg.input_size
        if not _tracing() and (image.dim() != 4 or image.shape[1] != 3 or image.shape[-1] != s
                               or image.shape[-2] != s):
            raise BadInput(f"vsam expects (N, 3, {s}, {s}); got {tuple(image.shape)}")
        _, p2, p3, p4, _ = self._pools
        b2 = self.features[:p2 + 1](image)            # block 2 after pool2: S/4
        b3 = self.features[p2 + 1:p3 + 1](b2)         # block 3 after pool3: S/8
        b4 = self.features[p3 + 1:p4](b3)             # conv4_3: S/8
        combined = self.combine(torch.cat([F.max_pool2d(b2, 2), b3, b4], dim=1))
        att = self.attention(combined)
        beta = self.cfg.attention_weight
        x = combined * att if beta == 1.0 else combined * ((1.0 - beta) + beta * att)
        x = torch.flatten(self.features[p4:](x), 1)
        return {"category_logits": self.category_head(x), "attribute_logits": self.attribute_head(x),
                "attention": att}

    def make_loss(self, schema, train_samples, train_cfg) -> nn.Module:
        c = self.cfg
        return VSAMLoss(train_cfg.w_category, train_cfg.w_attributes, train_cfg.unknown_labels,
                        c.focal_gamma, c.focal_alpha, c.fidelity, c.heatmap_sigma, c.guide, c.limbs)


def focal_bce(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0, alpha: float = 0.6,
              unknown: tuple[int, ...] = (0,)) -> torch.Tensor:
    """Focal loss (Lin et al.) per attribute, mean over known labels.

    logits, labels: (N, A), labels in {1, -1, 0}; FL = -alpha (1 - p)^gamma log p for positives,
    -(1 - alpha) p^gamma log(1 - p) for negatives; labels in ``unknown`` contribute nothing.
    """
    if logits.numel() == 0:
        return logits.sum() * 0.0
    known = torch.ones_like(labels, dtype=torch.bool)
    for u in unknown:
        known &= labels != u
    pos = labels == 1
    p = torch.sigmoid(logits)
    loss = torch.where(pos, -alpha * (1 - p) ** gamma * F.logsigmoid(logits),
                       -(1 - alpha) * p ** gamma * F.logsigmoid(-logits))
    return (loss * known).sum() / known.sum().clamp(min=1)


class VSAMLoss(nn.Module):
    """w_c CE + w_a focal + fidelity * mean (S^ - S)^2 over the images that have guide points."""

    def __init__(self, w_c: float, w_a: float, unknown, gamma: float, alpha: float,
                 fidelity: float, sigma: float, guide: str = "keypoints", limbs: str = "auto") -> None:
        super().__init__()
        self.w_c, self.w_a, self.unknown = float(w_c), float(w_a), tuple(unknown)
        self.gamma, self.alpha, self.fidelity, self.sigma = gamma, alpha, fidelity, sigma
        self.guide, self.limbs = guide, limbs

    def forward(self, out: dict, batch: dict) -> dict:
        from edgefashion.losses.multitask import category_loss

        l_c = category_loss(out["category_logits"], batch["category"])
        l_a = focal_bce(out["attribute_logits"], batch["attributes"], self.gamma, self.alpha,
                        self.unknown)
        total = self.w_c * l_c + self.w_a * l_a
        l_att = self.attention_loss(out["attention"], self.guide_points(batch))
        parts = {"category": l_c, "attributes": l_a, "attention": total.new_zeros(())}
        if l_att is not None:
            parts["attention"] = l_att
            total = total + self.fidelity * l_att
        return {"loss": total, **parts}

    def guide_points(self, batch: dict) -> torch.Tensor | None:
        order = {"keypoints": ("keypoints",), "landmarks": ("landmarks",),
                 "auto": ("keypoints", "landmarks")}[self.guide]
        return next((batch[k] for k in order if k in batch), None)

    def attention_loss(self, att: torch.Tensor, points: torch.Tensor | None) -> torch.Tensor | None:
        """Pixel-wise L2 between S^ (N, 1, h, w) and the pose heatmap of ``points`` (N, K, 3)."""
        if points is None:
            return None
        has = (points[..., 2] > 0).any(dim=1)
        if not bool(has.any()):
            return None
        limbs = default_limbs(points.shape[1]) if self.limbs == "auto" else ()
        target = skeleton_heatmap(points, att.shape[-2], att.shape[-1], self.sigma, limbs)
        per_image = ((att - target.to(att.dtype)) ** 2).mean(dim=(1, 2, 3))
        return per_image[has].mean()
