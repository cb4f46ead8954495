"""TensorRT backend (``.engine`` / ``.plan``): reserved.

Engines are built and served by the precision / engine issue; until it lands this backend only says
so, clearly, instead of pretending. Its metadata will come from the JSON sidecar
(``model.engine.json``, see ``edgefashion.runtime.metadata.read_sidecar``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from edgefashion.errors import BackendUnavailable
from edgefashion.runtime.backends.base import Backend, check_model_file, module_available

INSTALL = "pip install tensorrt (NVIDIA GPU and driver needed; on Jetson it comes with JetPack)"


class TensorRTBackend(Backend):
    """Placeholder: raises BackendUnavailable on load (see the module docstring)."""

    name = "tensorrt"
    install_hint = INSTALL

    @classmethod
    def is_available(cls) -> bool:
        return module_available("tensorrt")

    def __init__(self, path: str | Path, device: str | None = None, **options) -> None:
        self.path = check_model_file(path)
        if not self.is_available():
            raise BackendUnavailable(
                f"TensorRT is not installed, so the engine {str(self.path)!r} cannot run here; "
                f"{INSTALL}, or run the model's .onnx with ONNX Runtime instead"
            )
        raise BackendUnavailable(
            f"the TensorRT engine backend is not part of this edgefashion version yet (it lands with "
            f"the precision / engine-build work), so {str(self.path)!r} cannot run; run the model's "
            ".onnx with ONNX Runtime (providers=['tensorrt'] uses TensorRT through ONNX Runtime)"
        )

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:  # pragma: no cover
        raise BackendUnavailable("the TensorRT engine backend is not implemented yet")
