"""What every registered model is, declared once (the trainer, the exporter and the backends rely
on it), and the input-size / width checks the model configs share.

Required (``GarmentModel``): ``model_name`` and ``config_class`` (set by the registry and the
class), ``num_categories``, ``num_attributes``, ``output_names`` (the outputs' order in exported
graphs; "category_logits" and "attribute_logits" first), ``config`` (a JSON-able dict with "name",
what checkpoints store), and ``forward(image) -> {output name: tensor}``.

Optional hooks, each with one reader:

- ``training_forward(batch)``: outputs the loss needs beyond ``forward`` (losses.multitask.training_forward);
- ``make_loss(schema, train_samples, train_cfg)``: the model's own loss (losses.multitask.build_loss);
- ``backbone_parameters()`` / ``backbone.stage_param_groups()``: the pretrained part, for a lower
  learning rate and frozen stages (training.optim);
- ``shared_pooled_heads = True``: ``category_head`` and ``attribute_head`` read the same pooled
  features (training.head_warmup, the distillation hint);
- ``input_names`` / ``example_inputs(n)``: graph inputs beyond "image" (export.onnx);
- ``schema_options(schema)``: options derived from the labels (models.build.with_schema_options).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

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


def check_model(model, where: str = "the model") -> None:
    """ModelFileError naming what ``model`` lacks of the contract (a foreign nn.Module, say)."""
    missing = [n for n in ("model_name", "num_categories", "num_attributes", "output_names", "config")
               if not hasattr(model, n)]
    if missing:
        raise ModelFileError(f"{where} ({type(model).__name__}) is not an edgefashion model: it lacks "
                             f"{', '.join(missing)}; build it with edgefashion.models.create_model")
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
