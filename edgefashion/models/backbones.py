"""ResNet-50 and EfficientNet-B0 feature extractors from torchvision parts, with a width option.

Both keep torchvision's module names, so a local ImageNet weights file loads at width 1 (never
downloaded). ``width`` scales every channel count (for fast CPU tests and demos); ``depth``
(EfficientNet) / ``blocks`` (ResNet) make shallower variants.

    resnet_features(width=1.0)        # (N, 3, S, S) -> (N, 2048 w, S/32, S/32)
    efficientnet_features(width=1.0)  # (N, 3, S, S) -> (N, 1280 w, S/32, S/32)
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torchvision.models.efficientnet import _efficientnet_conf
from torchvision.models.resnet import Bottleneck, conv1x1

from edgefashion.errors import BadInput, ModelFileError
from edgefashion.models.state_dict import read_state_dict

RESNET50_BLOCKS = (3, 4, 6, 3)


def scaled(channels: int, width: float, divisor: int = 4) -> int:
    """``channels * width`` rounded to a multiple of ``divisor`` (at least ``divisor``)."""
    return max(divisor, int(round(channels * width / divisor)) * divisor)


class ResNetFeatures(nn.Module):
    """torchvision's ResNet (Bottleneck) without avgpool / fc; channels scaled by ``width``.

    Attribute names match torchvision (conv1, bn1, layer1..layer4), so ``resnet50-*.pth`` loads.
    """

    def __init__(self, width: float = 1.0, blocks: Sequence[int] = RESNET50_BLOCKS) -> None:
        super().__init__()
        if not 0 < width <= 4:
            raise BadInput(f"width {width} must lie in (0, 4]")
        if len(blocks) != 4 or min(blocks) < 1:
            raise BadInput(f"blocks {tuple(blocks)} must be four counts >= 1 (ResNet-50: 3, 4, 6, 3)")
        stem = scaled(64, width)
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.inplanes = stem
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks), 1):
            setattr(self, f"layer{i}", self._make_layer(scaled(planes, width), n, 1 if i == 1 else 2))
        self.out_channels = self.inplanes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes: int, n: int, stride: int) -> nn.Sequential:
        out = planes * Bottleneck.expansion
        down = None
        if stride != 1 or self.inplanes != out:
            down = nn.Sequential(conv1x1(self.inplanes, out, stride), nn.BatchNorm2d(out))
        layers = [Bottleneck(self.inplanes, planes, stride, down)]
        self.inplanes = out
        layers += [Bottleneck(out, planes) for _ in range(1, n)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, S, S) -> (N, out_channels, S/32, S/32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class EfficientNetFeatures(nn.Module):
    """torchvision's EfficientNet-B0 ``features`` (stem, 7 MBConv stages, 1x1 conv to 4 x 320 w).

    ``width`` / ``depth`` are torchvision's width_mult / depth_mult (B0: 1.0 / 1.0).
    """

    def __init__(self, width: float = 1.0, depth: float = 1.0, stochastic_depth: float = 0.2) -> None:
        super().__init__()
        if not 0 < width <= 4 or not 0 < depth <= 4:
            raise BadInput(f"width {width} and depth {depth} must lie in (0, 4]")
        from torchvision.models.efficientnet import EfficientNet

        setting, last = _efficientnet_conf("efficientnet_b0", width_mult=width, depth_mult=depth)
        net = EfficientNet(setting, dropout=0.0, stochastic_depth_prob=stochastic_depth,
                           last_channel=last)  # BatchNorm2d defaults, as torchvision's B0
        self.features = net.features
        self.out_channels = 4 * setting[-1].out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, S, S) -> (N, out_channels, S/32, S/32)."""
        return self.features(x)


def load_torchvision_weights(module: nn.Module, path: str | Path | None, what: str) -> None:
    """Load the matching tensors of a local torchvision ImageNet file into ``module``.

    Keys the module does not have (fc.*, classifier.*) are ignored; a missing or mismatching key
    of the module is a ModelFileError (e.g. weights of another width).
    """
    if not path:
        return
    state = read_state_dict(path, advice=f"give a local torchvision {what} .pth file "
                                         "(edgefashion never downloads weights)")
    own = module.state_dict()
    bad = [k for k in own if k not in state or state[k].shape != own[k].shape]
    if bad:
        raise ModelFileError(f"{str(path)!r} does not match this {what} backbone (first mismatch: "
                             f"{bad[0]}); use width=1.0 (and the default depth) with ImageNet weights")
    module.load_state_dict({k: state[k] for k in own})
