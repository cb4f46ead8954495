"""EfficientNet-Lite0/1/2 through timm, split into the stages MSFAN-style models tap.

timm's ``tf_efficientnet_lite*`` (TF "same" padding, BN eps 1e-3, ReLU6, no squeeze-excite: what the
ImageNet weights were trained with) is created with ``pretrained=False`` - timm never downloads -
and an edgefashion-resolved state_dict is loaded into it. The stage boundaries are timm's
``feature_info`` (what ``features_only=True, out_indices`` returns), so a model can inject
attention between stages:

    bb = LiteBackbone("efficientnet_lite0", pretrained="efficientnet-lite0")
    x = bb.stem(img)                                   # (N, 32, S/2, S/2)
    for i in range(5): x = bb.stage(i, x)              # strides 2, 4, 8, 16, 32
    f = bb.head(x)                                     # (N, 1280, S/32, S/32)
"""
from __future__ import annotations

import torch
from torch import nn

from edgefashion.errors import BadInput, unknown_name

LITE_FAMILIES = {"efficientnet_lite0": (1.0, 1.0), "efficientnet_lite1": (1.0, 1.1),
                 "efficientnet_lite2": (1.1, 1.2)}   # (channel multiplier, depth multiplier)


def _create(family: str, width: float, drop_path: float) -> nn.Module:
    import timm

    kw = dict(pretrained=False, num_classes=0, global_pool="", drop_path_rate=drop_path)
    if width == 1.0:
        return timm.create_model(f"tf_{family}", **kw)
    # Narrower variants (fast CPU tests): timm's own Lite builder with the tf_ padding / BN eps.
    from timm.models.efficientnet import _gen_efficientnet_lite

    mult, depth = LITE_FAMILIES[family]
    return _gen_efficientnet_lite(f"tf_{family}", channel_multiplier=mult * width,
                                  depth_multiplier=depth, bn_eps=1e-3, pad_type="same", **kw)


class LiteBackbone(nn.Module):
    """timm's EfficientNet-Lite without its classifier; keeps timm's parameter names.

    stage i ends at ``feature_info[i]`` (strides 2, 4, 8, 16, 32); ``head`` is the 1x1 conv to
    1280 channels + BN + ReLU6. ``weights_info`` is set when pretrained weights were loaded.
    """

    def __init__(self, family: str = "efficientnet_lite0", pretrained: str | None = None,
                 width: float = 1.0, drop_path: float = 0.0, allow_download: bool = False) -> None:
        super().__init__()
        if family not in LITE_FAMILIES:
            raise unknown_name("backbone", family, LITE_FAMILIES)
        if not 0 < width <= 4:
            raise BadInput(f"width {width} must lie in (0, 4]")
        if pretrained and width != 1.0:
            raise BadInput(f"pretrained weights {pretrained!r} need width=1.0 (got {width})")
        net = _create(family, float(width), float(drop_path))
        self.family = family
        self.conv_stem, self.bn1, self.blocks = net.conv_stem, net.bn1, net.blocks
        self.conv_head, self.bn2 = net.conv_head, net.bn2
        info = net.feature_info
        ends = [int(f["module"].split(".")[1]) for f in info]
        self.stage_blocks = [list(range(0 if i == 0 else ends[i - 1] + 1, e + 1)) for i, e in enumerate(ends)]
        self.stage_channels = [int(f["num_chs"]) for f in info]
        self.stage_strides = [int(f["reduction"]) for f in info]
        self.out_channels = int(net.num_features)
        self.weights_info: dict | None = None
        if pretrained:
            self.load_pretrained(pretrained, allow_download=allow_download)

    def load_pretrained(self, spec: str, *, allow_download: bool = False) -> dict:
        """Resolve ``spec`` and load it (the classifier is dropped); returns the weights' info."""
        from edgefashion.models.pretrained import load_resolved

        self.weights_info = load_resolved(self, spec, self.family, allow_download=allow_download)
        return self.weights_info

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn1(self.conv_stem(x))

    def stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        for b in self.stage_blocks[i]:
            x = self.blocks[b](x)
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_head(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, S, S) -> (N, out_channels, S/32, S/32)."""
        x = self.stem(x)
        for i in range(len(self.stage_blocks)):
            x = self.stage(i, x)
        return self.head(x)

    def stage_param_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from input to output: [stem + stage 0, stage 1, ..., stage 4, head]
        (for layer-wise lr decay)."""
        groups = [list(self.conv_stem.parameters()) + list(self.bn1.parameters())]
        for i, blocks in enumerate(self.stage_blocks):
            params = [p for b in blocks for p in self.blocks[b].parameters()]
            if i == 0:
                groups[0] += params
            else:
                groups.append(params)
        groups.append(list(self.conv_head.parameters()) + list(self.bn2.parameters()))
        return groups


def timm_features(family: str = "efficientnet_lite0", out_indices: tuple[int, ...] = (1, 2, 3, 4),
                  pretrained: str | None = None) -> nn.Module:
    """timm ``features_only`` Lite extractor returning the listed stages; resolved weights loaded."""
    import timm

    if family not in LITE_FAMILIES:
        raise unknown_name("backbone", family, LITE_FAMILIES)
    net = timm.create_model(f"tf_{family}", pretrained=False, features_only=True, out_indices=out_indices)
    if pretrained:
        from edgefashion.models.weights import resolve_weights

        w = resolve_weights(pretrained)
        own = net.state_dict()
        net.load_state_dict({k: v for k, v in w.state_dict.items() if k in own})
        net.weights_info = w.info()
    return net
