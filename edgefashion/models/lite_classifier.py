"""lite_classifier: a plain EfficientNet-Lite classifier (no attention): the distillation teacher.

Backbone -> global average pool -> a category head and an attribute head on the pooled features,
each a linear layer (``head_dim=0``, what the ImageNet classifier was) or FC-ReLU-FC. It is the
teacher ``edgefashion train --teacher efficientnet-lite2`` fine-tunes before distilling into the
student (training.distill), and a baseline beside the attention models. Any input size >= 32
works: timm's TF "same" padding handles sizes that are not multiples of 32 (Lite2's native 260).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from edgefashion.errors import BadInput
from edgefashion.models.layers import is_tracing, pooled_head
from edgefashion.models.pretrained import PretrainedMixin
from edgefashion.models.contract import GarmentModule
from edgefashion.models.registry import register_model
from edgefashion.models.timm_backbones import LITE_FAMILIES, LiteBackbone


@dataclass(frozen=True)
class LiteClassifierConfig:
    backbone: str = "efficientnet_lite0"   # efficientnet_lite0 | 1 | 2 (timm tf_*)
    pretrained: str | None = None          # weights spec (models.weights); resolved at build only
    width: float = 1.0                     # channel multiplier (1.0 with pretrained weights)
    input_size: int = 224
    head_dim: int = 0                      # 0: linear heads on the pooled features
    dropout: float = 0.2
    drop_path: float = 0.0                 # timm stochastic depth (training only)

    def __post_init__(self) -> None:
        if self.backbone not in LITE_FAMILIES:
            raise BadInput(f"backbone {self.backbone!r} must be one of {', '.join(LITE_FAMILIES)}")
        if self.input_size < 32:
            raise BadInput(f"input_size {self.input_size} must be >= 32")
        if self.head_dim < 0 or not 0 <= self.dropout < 1:
            raise BadInput(f"head_dim {self.head_dim} must be >= 0 and dropout {self.dropout} in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)


@register_model("lite_classifier")
class LiteClassifier(PretrainedMixin, GarmentModule):
    config_class = LiteClassifierConfig
    tiny_config = {"width": 0.25, "input_size": 64}
    shared_pooled_heads = True  # both heads read the pooled features (head warm-up, hints)

    def __init__(self, num_categories: int, num_attributes: int, **cfg) -> None:
        super().__init__()
        self.cfg = c = LiteClassifierConfig(**cfg)
        self.num_categories, self.num_attributes = num_categories, num_attributes
        self.backbone = LiteBackbone(c.backbone, c.pretrained, c.width, c.drop_path)
        feat = self.backbone.out_channels
        self.category_head = pooled_head(feat, c.head_dim, num_categories, c.dropout)
        self.attribute_head = pooled_head(feat, c.head_dim, num_attributes, c.dropout)
        self._set_weights_info(self.backbone.weights_info, c.backbone)

    output_names = ["category_logits", "attribute_logits"]

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image: (N, 3, S, S) -> category_logits (N, C), attribute_logits (N, A)."""
        s = self.cfg.input_size
        if not is_tracing() and (
                image.dim() != 4 or image.shape[1] != 3 or tuple(image.shape[-2:]) != (s, s)):
            raise BadInput(f"lite_classifier expects (N, 3, {s}, {s}); got {tuple(image.shape)}")
        pooled = self.backbone(image).mean(dim=(2, 3))
        return {"category_logits": self.category_head(pooled),
                "attribute_logits": self.attribute_head(pooled)}

