"""PyTorch backend: an edgefashion checkpoint (.pt / .pth) run eagerly. torch is imported lazily.

It sits above the models it rebuilds (imported only when a checkpoint is opened); the runtime's
backend table names it by import path."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from edgefashion.errors import BadInput, EdgeFashionError, ModelFileError
from edgefashion.runtime.backends.base import (Backend, TensorSpec, check_model_file,
                                               module_available, require)
from edgefashion.runtime.metadata import make_metadata

INSTALL = "pip install torch torchvision (or 'edgefashion[train]'), or export the model to ONNX"


class PyTorchBackend(Backend):
    """A model rebuilt from an edgefashion checkpoint with ``edgefashion.models.load_checkpoint``.

    Options: ``device`` ("cpu" default, "cuda", "cuda:N").
    """

    name = "pytorch"
    install_hint = INSTALL

    @classmethod
    def is_available(cls) -> bool:
        return module_available("torch")

    def __init__(self, path: str | Path, device: str | None = None, threads: int | None = None,
                 **options) -> None:
        if options:
            raise BadInput(f"unknown PyTorch backend options {sorted(options)}; valid: device, threads")
        self.torch = require("torch", self.name, INSTALL)
        if threads:  # process-wide in torch, as intra-op threads are
            self.torch.set_num_threads(int(threads))
        self.path = check_model_file(path)
        self.device = _device(self.torch, device)
        from edgefashion.models.checkpoint import load_checkpoint

        try:
            model, info = load_checkpoint(self.path, map_location=self.device)
        except EdgeFashionError:
            raise  # ModelFileError / UnknownName from load_checkpoint are already clear
        except Exception as e:  # torch.load on a file that is not a checkpoint
            raise ModelFileError(
                f"{str(self.path)!r} is not an edgefashion checkpoint ({type(e).__name__}: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}); "
                "train one with `edgefashion train` or check the path"
            ) from e
        self.model = model.to(self.device).eval()
        schema, prep = info["schema"], info["preprocess"]
        names = list(model.output_names)  # load_checkpoint checked the contract (models.contract)
        config = dict(model.config)
        name = config.pop("name", None) or info.get("raw", {}).get("model", "?")
        self.metadata = make_metadata(name, config, schema, prep, names, {"source": "checkpoint"})
        size = int(prep.input_size)
        self.input_specs = {"image": TensorSpec((None, 3, size, size), np.dtype(np.float32))}
        for extra in list(model.input_names)[1:]:  # e.g. m2fashion's "known"
            width = model.example_inputs(1)[extra].shape[1:]
            self.input_specs[extra] = TensorSpec((None, *width), np.dtype(np.float32))
        # One forward on zeros gives the real output shapes (and shows the model runs).
        self.output_specs = {n: TensorSpec((None,), np.dtype(np.float32)) for n in names}
        self.output_specs = {n: TensorSpec((None, *v.shape[1:]), np.dtype(np.float32))
                             for n, v in self.infer(self.dummy_inputs(1)).items()}

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
        feeds = self.check_inputs(inputs)
        tensors = {k: torch.from_numpy(v).to(self.device) for k, v in feeds.items()}
        with torch.inference_mode():
            out = self.model(**tensors)
        if not isinstance(out, Mapping):
            out = dict(zip(self.output_names, out if isinstance(out, (tuple, list)) else [out]))
        return {k: v.detach().float().cpu().numpy() for k, v in out.items()}

    def close(self) -> None:
        self.model = None


def _device(torch, device: str | None) -> str:
    dev = str(device or "cpu").lower()
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise BadInput(f"device {device!r} was asked for, but torch sees no CUDA GPU; use device='cpu'")
    if not (dev == "cpu" or dev.startswith("cuda")):
        raise BadInput(f"device {device!r} is not one of 'cpu', 'cuda', 'cuda:N'")
    return dev

