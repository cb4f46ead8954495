"""A model whose backbone starts from pretrained weights, with the preprocessing they expect.

``pretrained_model("msfan_lite", schema, opts, 224, "efficientnet-lite0")`` -> (model,
PreprocessConfig). The weights come from ``edgefashion.models.weights.resolve_weights`` (an
installed weights package or a local file; the hub only when downloads are allowed), through the
model's own ``pretrained=`` option; a weights package also picks the matching ``backbone``. The
preprocessing records the mean / std the weights were trained with (``model.mean`` / ``model.std``).
"""
from __future__ import annotations

import os

from edgefashion.errors import BadInput


def pretrained_model(name: str, schema, opts: dict, input_size: int, spec: str,
                     allow_download: bool = False):
    from edgefashion.models import create_model, get_model_class, list_models
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
    mean, std = getattr(model, "mean", None), getattr(model, "std", None)
    if mean is None or std is None:
        return model, PreprocessConfig(input_size=input_size)
    return model, PreprocessConfig(input_size=input_size, mean=tuple(mean), std=tuple(std))


def _package_family(spec: str) -> str | None:
    from edgefashion.models.weights import WEIGHT_SPECS

    pkg = WEIGHT_SPECS.get(spec)
    return pkg.family if pkg is not None else None
