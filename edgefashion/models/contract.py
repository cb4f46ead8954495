"""What every registered model is, declared once (the trainer, the exporter and the backends rely
on it), and the input-size / width checks the model configs share.

Required (``GarmentModel``): ``model_name`` and ``config_class`` (set by the registry and the
class), ``num_categories``, ``num_attributes``, ``output_names`` (the outputs' order in exported
graphs; "category_logits" and "attribute_logits" first), ``config`` (a JSON-able dict with "name",
what checkpoints store), and ``forward(image) -> {output name: tensor}``.

Optional hooks: every registered model derives from ``GarmentModule``, which declares them with
their defaults, so their readers call them (no hasattr):

- ``training_forward(batch)``: outputs the loss needs beyond ``forward`` (losses.multitask);
- ``make_loss(schema, train_samples, train_cfg)``: the model's own loss, None for the default one;
- ``backbone_parameters()`` / ``stage_param_groups()``: the pretrained part, for a lower
  learning rate and frozen stages (training.optim); ``backbone_module()`` for frozen batch norms;
- ``shared_pooled_heads = True``: ``category_head`` and ``attribute_head`` read the same pooled
  features (training.head_warmup, the distillation hint);
- ``input_names`` / ``example_inputs(n)``: graph inputs beyond "image" (export.onnx);
- ``schema_options(schema)``: options derived from the labels (models.build.with_schema_options);
- ``mean`` / ``std``: the normalisation its pretrained weights expect (None: ImageNet's default);
  ``weights_info``: where those weights came from (models.pretrained).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from edgefashion.errors import BadInput, ModelFileError


@runtime_checkable
class GarmentModel(Protocol):
    model_name: str
    num_categories: int
    num_attributes: int

    @property
    def output_names(self) -> list[str]: ...

    @property
    def config(self) -> dict: ...

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]: ...


class GarmentModule(nn.Module):
    """The base of every registered model: the contract's optional hooks with their defaults."""

    shared_pooled_heads: bool = False
    input_names: tuple[str, ...] = ("image",)
    weights_info: dict | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    @classmethod
    def schema_options(cls, schema) -> dict:
        """Options the model derives from a LabelSchema (none by default)."""
        return {}

    def training_forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """The outputs the loss reads; by default ``forward`` on the batch's images."""
        return self(batch["image"])

    def make_loss(self, schema, train_samples, train_cfg) -> nn.Module | None:
        """The model's own loss; None: the default category + attribute loss (losses.multitask)."""
        return None

    def example_inputs(self, batch: int) -> dict[str, torch.Tensor]:
        """Neutral values for the graph inputs beyond "image" (none by default; "image" may be in it)."""
        return {}

    def backbone_module(self) -> nn.Module | None:
        """The pretrained trunk, when the model keeps it as ``backbone``."""
        return self._modules.get("backbone")

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The pretrained trunk's parameters (a lower learning rate in training.optim)."""
        return [p for n, p in self.named_parameters() if n.startswith("backbone.")]

    def stage_param_groups(self) -> list[list[nn.Parameter]] | None:
        """The trunk's parameters by stage, input to output; None when it has no stages."""
        staged = getattr(self.backbone_module(), "stage_param_groups", None)
        return staged() if staged is not None else None


def check_model(model, where: str = "the model") -> None:
    """ModelFileError naming what ``model`` lacks of the contract (a foreign nn.Module, say)."""
    missing = [n for n in ("model_name", "num_categories", "num_attributes", "output_names", "config")
               if not hasattr(model, n)]
    if missing:
        raise ModelFileError(f"{where} ({type(model).__name__}) is not an edgefashion model: it lacks "
                             f"{', '.join(missing)}; build it with edgefashion.models.create_model")
    if not isinstance(model, GarmentModule):
        raise ModelFileError(f"{where} ({type(model).__name__}) has the contract's attributes but does not "
                             "derive from edgefashion.models.contract.GarmentModule, which declares "
                             "the optional hooks the trainer and exporter call; derive from it")
    names = list(model.output_names)
    if names[:2] != ["category_logits", "attribute_logits"]:
        raise ModelFileError(f"{where} ({model.model_name}) lists outputs {names}; the first two must "
                             "be category_logits, attribute_logits")


def check_input_size(size: int, why: str, multiple: int = 32) -> None:
    """An input side that is >= ``multiple`` and a multiple of it (``why``: the stride's origin)."""
    if size % multiple or size < multiple:
        raise BadInput(f"input_size {size} must be a multiple of {multiple} ({why})")


def check_width(width: float) -> None:
    if not 0 < width <= 4:
        raise BadInput(f"width {width} must lie in (0, 4]")
