"""MSFAN's student network (papers/msfan-*.txt, §4.4.1, Figure 8): ResNet-18 + attention after conv3.

ResNet-18 built from torchvision's pieces (``BasicBlock``; parameter names as in
``torchvision.models.resnet18`` so local ImageNet weights load at width 1). At the end of the
residual blocks of conv3 (He et al.'s ``conv3_x`` = torchvision's ``layer2``, 28 x 28 at 224) a
spatial gate g = sigmoid(w . x + b) gates the features, a GAP-only channel attention
(the student's difference from the teacher, which adds GMP) recalibrates the gated map, and the
result is added back to the conv3 features (the teacher adds its attended map to conv4 the same
way). Global average pooling after conv5, then two FC-1024 heads: category and attributes.

``attention_stage`` moves the block: 2..5 = after conv2_x..conv5_x (layer1..layer4).

``backbone="efficientnet_lite0|1|2"`` swaps ResNet-18 for timm's EfficientNet-Lite (stages 1..4 =
strides 4..32 play conv2_x..conv5_x; GAP over its 1280-channel head); ``pretrained`` takes any
``models.weights`` spec (``efficientnet-lite0``, or a local ResNet-18 / Lite file).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from edgefashion.errors import BadInput, ModelFileError
from edgefashion.models.attention import ChannelAttention, SpatialGate
from edgefashion.models.layers import fc_head as _head, is_tracing as _tracing
from edgefashion.models.pretrained import PretrainedMixin, load_resolved
from edgefashion.models.registry import register_model
from edgefashion.models.state_dict import read_state_dict
from edgefashion.models.timm_backbones import LITE_FAMILIES, LiteBackbone
from edgefashion.models.vgg import scaled
from edgefashion.models.contract import GarmentModule, check_input_size, check_width

STAGE_CHANNELS = {2: 64, 3: 128, 4: 256, 5: 512}   # conv2_x..conv5_x of ResNet-18
STAGE_STRIDE = {2: 4, 3: 8, 4: 16, 5: 32}


@dataclass(frozen=True)
class StudentConfig:
    width: float = 1.0                  # channel multiplier (small CPU models: 0.125 .. 0.5)
    input_size: int = 224
    attention_stage: int = 3            # conv3_x, as in the paper
    reduction: int = 2                  # channel attention C -> C/r -> C (the teacher's r)
    residual: bool = True               # add the attended map back to the stage's features
    head_dim: int = 1024
    dropout: float = 0.5
    backbone_weights: str | None = None  # local torchvision resnet18 ImageNet file; never downloaded
    backbone: str = "resnet18"          # or efficientnet_lite0 | 1 | 2 (timm)
    pretrained: str | None = None       # a models.weights spec; resolved at build only

    def __post_init__(self) -> None:
        if self.backbone != "resnet18" and self.backbone not in LITE_FAMILIES:
            raise BadInput(f"backbone {self.backbone!r} must be resnet18 or one of "
                           f"{', '.join(LITE_FAMILIES)}")
        check_input_size(self.input_size, "ResNet strides to 1/32")
        check_width(self.width)
        if self.attention_stage not in STAGE_CHANNELS:
            raise BadInput(f"attention_stage {self.attention_stage} must be one of 2, 3, 4, 5 "
                           "(after conv2_x .. conv5_x)")
        if self.reduction < 1 or self.head_dim < 1 or not 0 <= self.dropout < 1:
            raise BadInput(f"reduction {self.reduction} and head_dim {self.head_dim} must be >= 1 and "
                           f"dropout {self.dropout} in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)


@register_model("msfan_student")
class MSFANStudent(PretrainedMixin, GarmentModule):
    config_class = StudentConfig
    tiny_config = {"width": 0.125, "input_size": 64}

    def __init__(self, num_categories: int, num_attributes: int, **cfg) -> None:
        super().__init__()
        self.cfg = c = StudentConfig(**cfg)
        self.num_categories, self.num_attributes = num_categories, num_attributes
        if c.backbone != "resnet18":
            self._build_lite(c, num_categories, num_attributes)
            return
        widths = [scaled(STAGE_CHANNELS[s], c.width) for s in (2, 3, 4, 5)]
        self.conv1 = nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = widths[0]
        for i, planes in enumerate(widths, start=1):
            setattr(self, f"layer{i}", _make_layer(inplanes, planes, stride=1 if i == 1 else 2))
            inplanes = planes
        _init_resnet(self)
        dim = widths[c.attention_stage - 2]
        self.gate = SpatialGate(dim)
        self.channel_att = ChannelAttention(dim, c.reduction, use_max=False)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.category_head = _head(widths[-1], c.head_dim, num_categories, c.dropout)
        self.attribute_head = _head(widths[-1], c.head_dim, num_attributes, c.dropout)
        if c.backbone_weights:
            load_resnet18_weights(self, c.backbone_weights)
        self._set_weights_info(_load_resolved(self, c.pretrained) if c.pretrained else None, "resnet18")

    def _build_lite(self, c: StudentConfig, num_categories: int, num_attributes: int) -> None:
        """The EfficientNet-Lite variant: attention after Lite stage ``attention_stage - 1``."""
        self.backbone = LiteBackbone(c.backbone, c.pretrained, c.width)
        dim = self.backbone.stage_channels[c.attention_stage - 1]
        self.gate = SpatialGate(dim)
        self.channel_att = ChannelAttention(dim, c.reduction, use_max=False)
        feat = self.backbone.out_channels
        self.category_head = _head(feat, c.head_dim, num_categories, c.dropout)
        self.attribute_head = _head(feat, c.head_dim, num_attributes, c.dropout)
        self._set_weights_info(self.backbone.weights_info, c.backbone)

    def backbone_parameters(self) -> list[nn.Parameter]:
        if self.cfg.backbone != "resnet18":
            return list(self.backbone.parameters())
        return [p for n, p in self.named_parameters() if n.split(".")[0] in _RESNET_TRUNK]

    @property
    def output_names(self) -> list[str]:
        return ["category_logits", "attribute_logits", f"gate{self.cfg.attention_stage}"]

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image: (N, 3, S, S) -> category_logits (N, C), attribute_logits (N, A),
        gate{k} (N, 1, S/8, S/8 for k = 3) in [0, 1]."""
        s = self.cfg.input_size
        if not _tracing() and (image.dim() != 4 or image.shape[1] != 3 or image.shape[-1] != s):
            raise BadInput(f"msfan_student expects (N, 3, {s}, {s}); got {tuple(image.shape)}")
        lite = self.cfg.backbone != "resnet18"
        if lite:  # Lite stage 0 (stride 2) plays conv1; stages 1..4 play conv2_x..conv5_x
            x = self.backbone.stage(0, self.backbone.stem(image))
        else:
            x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        gate = None
        for stage in (2, 3, 4, 5):
            x = self.backbone.stage(stage - 1, x) if lite else getattr(self, f"layer{stage - 1}")(x)
            if stage == self.cfg.attention_stage:
                gated, gate = self.gate(x)
                attended = self.channel_att(gated)         # GAP-only map, applied to the gated map
                x = x + attended if self.cfg.residual else attended
        x = self.backbone.head(x).mean(dim=(2, 3)) if lite else torch.flatten(self.avgpool(x), 1)
        return {"category_logits": self.category_head(x), "attribute_logits": self.attribute_head(x),
                f"gate{self.cfg.attention_stage}": gate}


_RESNET_TRUNK = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")


def _load_resolved(model: nn.Module, spec: str) -> dict:
    """Load resolved ResNet-18 weights (``models.weights`` spec) into the trunk; returns their info."""
    if model.cfg.width != 1.0:
        raise BadInput(f"pretrained weights {spec!r} need width=1.0 (got {model.cfg.width})")
    keys = [k for k in model.state_dict() if k.split(".")[0] in _RESNET_TRUNK]
    return load_resolved(model, spec, "resnet18", keys=keys)


def _make_layer(inplanes: int, planes: int, stride: int) -> nn.Sequential:
    """Two BasicBlocks (ResNet-18), the first one downsampling when the shape changes."""
    down = None
    if stride != 1 or inplanes != planes:
        down = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
    return nn.Sequential(BasicBlock(inplanes, planes, stride, down), BasicBlock(planes, planes))


def _init_resnet(model: nn.Module) -> None:
    """torchvision's ResNet initialisation (Kaiming fan-out convs, unit BN)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def load_resnet18_weights(model: nn.Module, path: str | Path) -> None:
    """Load a local torchvision ResNet-18 ImageNet file (``resnet18-f37072fd.pth``); fc is dropped."""
    state = read_state_dict(path, advice="give a local torchvision ResNet-18 .pth file "
                                         "(edgefashion never downloads weights)")
    own = {k: v for k, v in model.state_dict().items()
           if k.split(".")[0] in ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")}
    bad = [k for k in own if k not in state or state[k].shape != own[k].shape]
    if bad:
        raise ModelFileError(f"{str(path)!r} does not match this ResNet-18 backbone (first mismatch: "
                             f"{bad[0]}); use width=1.0 and a torchvision resnet18 file")
    model.load_state_dict({k: state[k] for k in own}, strict=False)
