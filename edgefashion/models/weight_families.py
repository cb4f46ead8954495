"""The architectures pretrained weights can be mapped onto, and the mapping itself.

Each family has a reference model (timm's ``tf_efficientnet_lite*`` for EfficientNet-Lite, where
TF "same" padding and BN eps 1e-3 match how the weights were trained; torchvision's VGG-16 /
ResNet / EfficientNet-B0 otherwise, whose names timm's ResNets share). Its state_dict is built on
the meta device (no memory, no download) and every incoming tensor is mapped onto it:
by name when the names agree, else one-to-one in order (the lukemelas-style ``_conv_stem`` /
``_blocks.N`` names of the weight packages), requiring the same parameter kind and shape per pair.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from edgefashion.errors import BadInput, ModelFileError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# TF EfficientNet-Lite was trained on (x - 127) / 128; on 341 real clothing-small photos through the
# package weights this gives more confident, more plausible ImageNet answers than the ImageNet
# mean / std (tests/models/test_pretrained_weights.py checks it).
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3


@dataclass(frozen=True)
class Family:
    name: str
    builder: str                   # "timm:<name>" or "torchvision:<name>"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int
    head_prefixes: tuple[str, ...]  # classifier tensors: optional in a file, never used by backbones
    markers: tuple[str, ...]       # keys whose presence suggests this family (cheap pre-filter)


def _lite(i: int, size: int) -> Family:
    return Family(f"efficientnet_lite{i}", f"timm:tf_efficientnet_lite{i}", LITE_MEAN, LITE_STD, size,
                  ("classifier.", "_fc."), ("conv_stem.weight", "_conv_stem.weight"))


FAMILIES: dict[str, Family] = {f.name: f for f in (
    _lite(0, 224), _lite(1, 240), _lite(2, 260),
    Family("resnet18", "torchvision:resnet18", IMAGENET_MEAN, IMAGENET_STD, 224, ("fc.",),
           ("layer1.0.conv1.weight",)),
    Family("resnet50", "torchvision:resnet50", IMAGENET_MEAN, IMAGENET_STD, 224, ("fc.",),
           ("layer1.0.conv3.weight",)),
    Family("vgg16", "torchvision:vgg16", IMAGENET_MEAN, IMAGENET_STD, 224,
           ("classifier.", "pre_logits.", "head."), ("features.0.weight",)),
    Family("vgg16_bn", "torchvision:vgg16_bn", IMAGENET_MEAN, IMAGENET_STD, 224,
           ("classifier.", "pre_logits.", "head."), ("features.1.running_mean",)),
    Family("efficientnet_b0", "torchvision:efficientnet_b0", IMAGENET_MEAN, IMAGENET_STD, 224,
           ("classifier.",), ("features.0.0.weight",)),
)}


@lru_cache(maxsize=None)
def reference_shapes(family: str) -> "OrderedDict[str, tuple[tuple[int, ...], str]]":
    """name -> (shape, kind) of the family's reference state_dict, built on the meta device."""
    import torch

    kind, name = FAMILIES[family].builder.split(":", 1)
    with torch.device("meta"):
        if kind == "timm":
            import timm

            model = timm.create_model(name, pretrained=False)
        else:
            import torchvision

            model = getattr(torchvision.models, name)(weights=None)
    return OrderedDict((k, (tuple(v.shape), k.rsplit(".", 1)[-1])) for k, v in model.state_dict().items())


def family_by_timm_name(name: str) -> Family:
    """The family of a timm model name (``tf_efficientnet_lite0``, ``resnet50.a1_in1k``, ...)."""
    arch = name.split(".", 1)[0]
    for fam in FAMILIES.values():
        if fam.builder.split(":", 1)[1] == arch or fam.name == arch:
            return fam
    valid = sorted(f.builder.split(":", 1)[1] for f in FAMILIES.values())
    raise BadInput(f"timm model {name!r} is not a backbone edgefashion builds; valid: {', '.join(valid)}")


def _is_head(key: str, fam: Family) -> bool:
    return key.startswith(fam.head_prefixes)


def _first(keys, n: int = 4) -> str:
    keys = list(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def map_state_dict(state: dict, fam: Family, where: str) -> dict:
    """``state`` renamed onto the family's reference names; ModelFileError naming the first misfits."""
    ref = reference_shapes(fam.name)
    if all(k in state or _is_head(k, fam) or kind == "num_batches_tracked"
           for k, (_, kind) in ref.items()):
        return _by_name(state, ref, fam, where)
    return _by_order(state, ref, fam, where)


def _by_name(state: dict, ref, fam: Family, where: str) -> dict:
    extra = [k for k in state if k not in ref and not _is_head(k, fam)]
    wrong = [f"{k} {tuple(state[k].shape)} != {shape}" for k, (shape, _) in ref.items()
             if k in state and tuple(state[k].shape) != shape]
    if extra or wrong:
        raise ModelFileError(
            f"{where} does not match {fam.name}: "
            + "; ".join(p for p in (f"unexpected keys: {_first(extra)}" if extra else "",
                                    f"shape mismatches: {_first(wrong)}" if wrong else "") if p)
            + f". Give {fam.name} ImageNet weights (timm or torchvision naming), or pass family=")
    return OrderedDict((k, state[k]) for k in ref if k in state)


def _by_order(state: dict, ref, fam: Family, where: str) -> dict:
    """Pair tensors in order (same count, same parameter kind and shape for every pair)."""
    names = list(ref)
    if len(state) != len(ref):  # a file without its classifier: compare without the reference's
        names = [k for k in ref if not _is_head(k, fam)]
    if len(state) != len(names):
        missing = [k for k in ref if k not in state and not _is_head(k, fam)]
        raise ModelFileError(
            f"{where} does not match {fam.name}: {len(state)} tensors vs {len(names)} expected; "
            f"missing keys: {_first(missing)}; unexpected keys: {_first([k for k in state if k not in ref])}")
    bad = []
    for (src, t), dst in zip(state.items(), names):
        shape, kind = ref[dst]
        if tuple(t.shape) != shape or src.rsplit(".", 1)[-1] != kind:
            bad.append(f"{src} {tuple(t.shape)} -> {dst} {shape}")
    if bad:
        raise ModelFileError(f"{where} does not map onto {fam.name} in order: {_first(bad, 3)}; "
                             "give the weights of that architecture, or pass family=")
    return OrderedDict((dst, t) for (_, t), dst in zip(state.items(), names))


def match_family(state: dict, where: str) -> Family:
    """The first family whose reference the tensors map onto (names or order, shapes checked)."""
    tried, errors = [], []
    for fam in FAMILIES.values():
        if not any(m in state for m in fam.markers):
            continue
        tried.append(fam.name)
        try:
            map_state_dict(state, fam, where)
            return fam
        except ModelFileError as e:
            errors.append(str(e))
    if errors:
        raise ModelFileError(errors[0] if len(errors) == 1 else
                             f"{where} matches none of {', '.join(tried)}; first: {errors[0]}")
    raise ModelFileError(
        f"{where} is not a state_dict of a known backbone (first keys: {_first(state)}); "
        f"known families: {', '.join(FAMILIES)} (timm or torchvision naming); pass family= if it is one")
