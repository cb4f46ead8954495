"""VGG-16 backbone from torchvision, with a width multiplier and the stage split MSFAN needs."""
from __future__ import annotations

from pathlib import Path

from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from edgefashion.errors import ModelFileError
from edgefashion.models.state_dict import read_state_dict


def scaled(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


def vgg16_features(width: float = 1.0, batch_norm: bool = False) -> nn.Sequential:
    """torchvision's VGG-16 ``features`` (same layer indices, so ImageNet weights load at width 1)."""
    cfg = [v if v == "M" else scaled(v, width) for v in cfgs["D"]]
    return make_layers(cfg, batch_norm=batch_norm)


def vgg16_backbone(width: float = 1.0, batch_norm: bool = False,
                   weights: str | Path | None = None) -> nn.Sequential:
    """``vgg16_features`` with a local torchvision ImageNet file loaded when ``weights`` is given."""
    features = vgg16_features(width, batch_norm)
    if weights:
        load_backbone_weights(features, weights)
    return features


def block_bounds(features: nn.Sequential) -> list[int]:
    """Indices of the five max-pool layers of a VGG ``features`` stack."""
    return [i for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]


def load_backbone_weights(features: nn.Sequential, path: str | Path) -> None:
    """Load a local torchvision VGG-16 ImageNet file (``vgg16-397923af.pth`` or the _bn one)."""
    state = read_state_dict(path, advice="give a local torchvision VGG-16 .pth file "
                                         "(edgefashion never downloads weights)")
    feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    own = features.state_dict()
    bad = [k for k in own if k not in feats or feats[k].shape != own[k].shape]
    if bad:
        raise ModelFileError(
            f"{str(path)!r} does not match this VGG-16 backbone (first mismatch: {bad[0]}); "
            "use width=1.0 and batch_norm matching the file (vgg16 vs vgg16_bn)"
        )
    features.load_state_dict({k: feats[k] for k in own})
