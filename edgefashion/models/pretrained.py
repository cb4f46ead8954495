"""What a model built on pretrained weights exposes: where they came from and the input they expect.

    model.weights_info            # {spec, source, sha256, family, mean, std, input_size} or None
    model.mean, model.std         # the normalisation to preprocess with (0-1 scale, PreprocessConfig's)
    model.finetune_param_groups() # {"backbone": [...], "new": [...]} for a lower backbone lr

``config`` records ``pretrained=None``: a checkpoint's state_dict already holds the weights, so
loading it never resolves (or needs) the weights package again; ``weights_info`` travels beside it.
"""
from __future__ import annotations

from torch import nn

from edgefashion.models.weight_families import FAMILIES, IMAGENET_MEAN, IMAGENET_STD


class PretrainedMixin:
    """Mixed into models (before GarmentModule, whose ``backbone_parameters`` it uses) with a ``cfg``
    dataclass and an optional ``pretrained`` spec."""

    weights_info: dict | None = None
    _family: str | None = None

    def _set_weights_info(self, info: dict | None, family: str | None) -> None:
        self.weights_info = dict(info) if info else None
        self._family = family

    @property
    def config(self) -> dict:
        d = {"name": self.model_name, **self.cfg.to_dict()}
        if "pretrained" in d:
            d["pretrained"] = None
        if "backbone_weights" in d:
            d["backbone_weights"] = None
        return d

    @property
    def mean(self) -> tuple[float, float, float]:
        if self.weights_info:
            return tuple(float(v) for v in self.weights_info["mean"])
        fam = FAMILIES.get(self._family or "")
        return fam.mean if fam else IMAGENET_MEAN

    @property
    def std(self) -> tuple[float, float, float]:
        if self.weights_info:
            return tuple(float(v) for v in self.weights_info["std"])
        fam = FAMILIES.get(self._family or "")
        return fam.std if fam else IMAGENET_STD

    def finetune_param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"backbone": the pretrained trunk's parameters, "new": everything else}."""
        backbone = self.backbone_parameters()
        ids = {id(p) for p in backbone}
        return {"backbone": backbone, "new": [p for p in self.parameters() if id(p) not in ids]}


def load_resolved(module: nn.Module, spec: str, family: str, *, keys=None,
                  allow_download: bool = False) -> dict:
    """Resolve ``spec`` as ``family`` weights and load them into ``module``; returns their info.

    ``keys``: the module's state_dict keys the weights must fill (default: all of them); a
    family other than ``family``, or a missing key, is a ModelFileError naming it.
    """
    from pathlib import Path

    from edgefashion.errors import ModelFileError
    from edgefashion.models.weights import resolve_weights

    is_file = Path(str(spec)).expanduser().is_file()
    w = resolve_weights(spec, allow_download=allow_download, family=family if is_file else None)
    if w.family != family:
        raise ModelFileError(f"weights {spec!r} are {w.family}, but this backbone is {family}; "
                             f"choose the backbone matching the weights (backbone={w.family!r}) "
                             f"or weights of {family}")
    own = module.state_dict()
    wanted = [k for k in (keys if keys is not None else own)]
    missing = [k for k in wanted if k not in w.state_dict and not k.endswith("num_batches_tracked")]
    if missing:
        raise ModelFileError(f"weights {spec!r} lack {len(missing)} backbone tensors: "
                             f"{', '.join(missing[:4])}")
    module.load_state_dict({k: w.state_dict[k] for k in wanted if k in w.state_dict}, strict=False)
    return w.info()
