"""Building a model by name, the way `edgefashion train` does (the CLI, benchmarks and the teacher
recipe share it): the options its config knows, the schema's options (multibranch's groups), and
pretrained weights with the preprocessing they expect.

    opts = model_options("msfan_lite", {"width": None, "input_size": 224}, {})
    model, preprocess = build_model("msfan_lite", schema, opts, 224, "efficientnet-lite0")

``pretrained_model`` resolves the weights through ``edgefashion.models.weights.resolve_weights`` (an
installed weights package or a local file; the hub only when downloads are allowed), through the
model's own ``pretrained=`` option; a weights package also picks the matching ``backbone``. The
preprocessing records the mean / std the weights were trained with (``model.mean`` / ``model.std``).
"""
from __future__ import annotations

import os

from edgefashion.errors import BadInput


def model_options(name: str, common: dict, extra: dict) -> dict:
    """The common flags the model's config knows (None = not given), plus its --model-opt items."""
    from edgefashion.models.registry import get_model_class

    fields = getattr(get_model_class(name).config_class, "__dataclass_fields__", {})
    opts = {}
    for key, value in common.items():
        if value is None:
            continue
        if key not in fields:
            if key in ("width", "input_size"):
                raise BadInput(f"model {name!r} has no {key!r} option; its options: {sorted(fields)}")
            raise BadInput(f"--{key.replace('_', '-')} does not apply to model {name!r}; "
                           f"its options: {sorted(fields)}")
        opts[key] = value
    return {**opts, **extra}


def with_schema_options(name: str, schema, opts: dict) -> dict:
    """``opts`` plus what the model derives from the schema (multibranch: one head per attribute
    group), unless given."""
    from edgefashion.models.registry import get_model_class

    cls = get_model_class(name)
    if not {"groups", "group_of"} & set(opts):
        return {**opts, **cls.schema_options(schema)}
    return dict(opts)


def build_model(name: str, schema, opts: dict, input_size: int, pretrained: str | None,
                allow_download: bool = False, seed: int | None = None):
    """-> (model, PreprocessConfig); with ``pretrained`` the backbone starts from those weights
    and the preprocessing uses the mean / std they were trained with. ``seed``: torch's RNG is
    seeded with it first, so the new layers' initialisation (heads, attention gates) repeats;
    without it two runs of one training seed start from different models."""
    import torch

    from edgefashion.models.registry import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig

    if seed is not None:
        torch.manual_seed(int(seed))

    if not pretrained:
        model = create_model(name, schema.num_categories, schema.num_attributes, **opts)
        return model, PreprocessConfig(input_size=input_size)
    return pretrained_model(name, schema, opts, input_size, pretrained, allow_download)


def pretrained_model(name: str, schema, opts: dict, input_size: int, spec: str,
                     allow_download: bool = False):
    from edgefashion.models.registry import create_model, get_model_class, list_models
    from edgefashion.runtime.preprocess import PreprocessConfig

    fields = getattr(get_model_class(name).config_class, "__dataclass_fields__", {})
    if "pretrained" not in fields:
        able = [m for m in list_models()
                if "pretrained" in getattr(get_model_class(m).config_class, "__dataclass_fields__", {})]
        raise BadInput(f"model {name!r} cannot start from --pretrained weights; models that can: "
                       f"{', '.join(able) or 'none'} (VGG models take --backbone-weights FILE)")
    if allow_download:  # the resolver reads this; set for this process only, never by default
        from edgefashion.models.weights import DOWNLOAD_ENV

        os.environ[DOWNLOAD_ENV] = "1"
    opts = {**opts, "pretrained": spec}
    family = _package_family(spec)
    if family and "backbone" in fields and "backbone" not in opts:
        opts["backbone"] = family  # efficientnet-lite1 weights -> the lite1 backbone
    model = create_model(name, schema.num_categories, schema.num_attributes, **opts)
    mean, std = model.mean, model.std
    if mean is None or std is None:
        return model, PreprocessConfig(input_size=input_size)
    return model, PreprocessConfig(input_size=input_size, mean=tuple(mean), std=tuple(std))


def _package_family(spec: str) -> str | None:
    from edgefashion.models.weights import WEIGHT_SPECS

    pkg = WEIGHT_SPECS.get(spec)
    return pkg.family if pkg is not None else None
