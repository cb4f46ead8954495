"""MSFAN: the multi-staged feature-attentive network (see papers/msfan-*.txt and DESIGN.md).

VGG-16; lateral connections at conv1..conv4 (1x1 convs bring conv1..conv3 to 512 channels), a
sigmoid spatial gate on each; top-down, concat(gated level, upsampled refined level above) -> 1x1
conv halving channels -> GAP+GMP channel attention (r = 2) whose map scales the gated level; all
refined levels pooled to conv4 resolution and multiplied element-wise; the product is added to
conv4 and fed to conv5; two FC-1024 heads for category and attributes.

Levels are the inputs of the next VGG block: conv1 (after pool1, S/2), conv2 (S/4), conv3 (S/8)
and conv4_3 before pool4 (S/8), so at 224 x 224 the stages are 112, 56, 28 and 28 pixels.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgefashion.errors import BadInput
from edgefashion.models.attention import ChannelAttention, SpatialGate
from edgefashion.models.layers import fc_head as _head, is_tracing as _tracing
from edgefashion.models.pretrained import PretrainedMixin, load_resolved
from edgefashion.models.registry import register_model
from edgefashion.models.vgg import block_bounds, scaled, vgg16_backbone
from edgefashion.models.contract import GarmentModule, check_input_size, check_width

LEVEL_STRIDE = {1: 2, 2: 4, 3: 8, 4: 8}
LEVEL_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512}


@dataclass(frozen=True)
class MSFANConfig:
    width: float = 1.0                 # channel multiplier (small CPU models: 0.125 .. 0.5)
    input_size: int = 224
    stages: tuple[int, ...] = (1, 2, 3, 4)
    pooling: tuple[str, ...] = ("gap", "gmp")
    single_stage: bool = False         # ablation: attention between conv4 and conv5 only
    reduction: int = 2
    batch_norm: bool = False           # VGG-16-BN backbone (trains faster from scratch)
    head_dim: int = 1024
    dropout: float = 0.5
    backbone_weights: str | None = None  # local torchvision ImageNet file; never downloaded
    pretrained: str | None = None        # a models.weights spec (a local VGG-16 / VGG-16-BN file)

    def __post_init__(self) -> None:
        stages = (4,) if self.single_stage else tuple(sorted(set(int(s) for s in self.stages)))
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "pooling", tuple(self.pooling))
        if not stages or not set(stages) <= {1, 2, 3, 4} or 4 not in stages:
            raise BadInput(f"stages {self.stages} must be a subset of (1, 2, 3, 4) that includes 4")
        if self.pooling not in (("gap", "gmp"), ("gap",)):
            raise BadInput(f"pooling {self.pooling} must be ('gap', 'gmp') or ('gap',)")
        check_input_size(self.input_size, "VGG has 5 pools")
        check_width(self.width)
        if self.reduction < 1:
            raise BadInput(f"reduction {self.reduction} must be >= 1")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stages"], d["pooling"] = list(self.stages), list(self.pooling)
        return d


@register_model("msfan")
class MSFAN(PretrainedMixin, GarmentModule):
    config_class = MSFANConfig
    # the smallest useful configuration: what the registry-driven tests build
    tiny_config = {"width": 0.125, "input_size": 64, "batch_norm": True}

    def __init__(self, num_categories: int, num_attributes: int, **cfg) -> None:
        super().__init__()
        self.cfg = MSFANConfig(**cfg)
        c = self.cfg
        self.num_categories, self.num_attributes = num_categories, num_attributes
        self.features = vgg16_backbone(c.width, c.batch_norm, c.backbone_weights)
        self._pools = block_bounds(self.features)
        dim = scaled(512, c.width)
        use_max = "gmp" in c.pooling
        self.lateral = nn.ModuleDict({
            str(i): nn.Conv2d(scaled(LEVEL_CHANNELS[i], c.width), dim, 1) for i in c.stages if i != 4
        })
        self.gates = nn.ModuleDict({str(i): SpatialGate(dim) for i in c.stages})
        self.fuse = nn.ModuleDict({str(i): nn.Conv2d(2 * dim, dim, 1) for i in c.stages if i != 4})
        self.channel_att = nn.ModuleDict(
            {str(i): ChannelAttention(dim, c.reduction, use_max) for i in c.stages})
        flat = dim * (c.input_size // 32) ** 2
        self.category_head = _head(flat, c.head_dim, num_categories, c.dropout)
        self.attribute_head = _head(flat, c.head_dim, num_attributes, c.dropout)
        family = "vgg16_bn" if c.batch_norm else "vgg16"
        info = None
        if c.pretrained:
            if c.width != 1.0:
                raise BadInput(f"pretrained weights {c.pretrained!r} need width=1.0 (got {c.width})")
            keys = [k for k in self.state_dict() if k.startswith("features.")]
            info = load_resolved(self, c.pretrained, family, keys=keys)
        self._set_weights_info(info, family)

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.features.parameters())

    @property
    def output_names(self) -> list[str]:
        return ["category_logits", "attribute_logits"] + [f"gate{i}" for i in self.cfg.stages]

    def _levels(self, x: torch.Tensor) -> tuple[dict[int, torch.Tensor], int]:
        """Run conv1..conv4_3; return {level: features} and the index of pool4."""
        p1, p2, p3, p4, _ = self._pools
        levels, start = {}, 0
        for lvl, end in ((1, p1 + 1), (2, p2 + 1), (3, p3 + 1), (4, p4)):
            x = self.features[start:end](x)
            levels[lvl] = x
            start = end
        return levels, p4

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image: (N, 3, S, S) -> category_logits (N, C), attribute_logits (N, A), gate{i} (N, 1, h, w)."""
        if not _tracing() and (image.dim() != 4 or image.shape[1] != 3
                               or image.shape[-1] != self.cfg.input_size):
            raise BadInput(
                f"MSFAN expects (N, 3, {self.cfg.input_size}, {self.cfg.input_size}); got {tuple(image.shape)}"
            )
        levels, p4 = self._levels(image)
        refined, gates = self._attend(levels)
        x = self.features[p4:](levels[4] + refined)
        x = torch.flatten(x, 1)
        out = {"category_logits": self.category_head(x), "attribute_logits": self.attribute_head(x)}
        out.update({f"gate{i}": gates[i] for i in self.cfg.stages})
        return out

    def _attend(self, levels: dict[int, torch.Tensor]):
        """Top-down spatial + channel attention; returns the product at conv4 resolution and gates."""
        refined, gates, above, prev = {}, {}, None, None
        for i in sorted(self.cfg.stages, reverse=True):
            lat = levels[i] if i == 4 else self.lateral[str(i)](levels[i])
            gated, gates[i] = self.gates[str(i)](lat)
            if above is None:
                fused = gated
            else:
                factor = LEVEL_STRIDE[prev] // LEVEL_STRIDE[i]
                up = F.interpolate(above, scale_factor=factor, mode="nearest") if factor > 1 else above
                fused = self.fuse[str(i)](torch.cat([gated, up], dim=1))
            refined[i] = self.channel_att[str(i)](fused, gated)
            above, prev = refined[i], i
        product = None
        for i, r in refined.items():
            factor = LEVEL_STRIDE[4] // LEVEL_STRIDE[i]
            r = F.avg_pool2d(r, factor) if factor > 1 else r
            product = r if product is None else product * r
        return product, gates
