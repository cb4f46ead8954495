"""The model registry: one dict drives create_model, list_models, the CLI and the test matrix."""
from __future__ import annotations

from typing import Callable

from edgefashion.errors import unknown_name

_MODELS: dict[str, Callable] = {}


def register_model(name: str) -> Callable:
    """Class decorator: ``@register_model("msfan")``."""

    def deco(cls):
        from edgefashion.models.contract import GarmentModule

        if not (isinstance(cls, type) and issubclass(cls, GarmentModule)):
            raise TypeError(f"model {name!r}: {cls!r} must derive from "
                            "edgefashion.models.contract.GarmentModule (the model contract's hooks)")
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = cls
        cls.model_name = name
        return cls

    return deco


def list_models() -> list[str]:
    return sorted(_MODELS)


def get_model_class(name: str):
    if name not in _MODELS:
        raise unknown_name("model", name, _MODELS)
    return _MODELS[name]


def create_model(name: str, num_categories: int, num_attributes: int, **cfg):
    """Build a registered model: ``create_model("msfan", 50, 1000, width=0.25)``."""
    return get_model_class(name)(num_categories, num_attributes, **cfg)
