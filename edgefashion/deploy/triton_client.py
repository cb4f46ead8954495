"""A client of the repository ``export-triton`` writes: images in, Predictions out (tritonclient).

    from edgefashion.deploy.triton_client import TritonClient
    client = TritonClient("localhost:8000", model="edgefashion")
    preds = client.predict(["shirt.jpg", open("dress.png", "rb").read(), bgr_array])

Sends the encoded images as one request (BYTES, shape (N, 1)) to the ensemble and rebuilds each
Prediction from its PREDICTION JSON. Needs ``pip install "edgefashion[triton]"``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgefashion.errors import BackendUnavailable, BadInput
from edgefashion.runtime.prediction import Prediction

OUTPUT = "PREDICTION"


def encode_images(images: Sequence[Any]) -> np.ndarray:
    """Paths / encoded bytes / BGR uint8 arrays -> the IMAGE tensor, (N, 1) object of bytes."""
    rows = []
    for img in images:
        if isinstance(img, (str, Path)):
            rows.append(Path(img).read_bytes())
        elif isinstance(img, (bytes, bytearray, memoryview)):
            rows.append(bytes(img))
        elif isinstance(img, np.ndarray):
            import cv2

            ok, buf = cv2.imencode(".png", img)  # lossless: the server sees the same pixels
            if not ok:
                raise BadInput(f"cannot encode an array of shape {img.shape} dtype {img.dtype}")
            rows.append(buf.tobytes())
        else:
            raise BadInput(f"cannot send {type(img).__name__} to Triton; pass a path, bytes or a "
                           "BGR uint8 array")
    return np.array(rows, dtype=np.object_).reshape(-1, 1)


def parse_answers(raw: np.ndarray) -> list[Prediction]:
    """The PREDICTION tensor (N, 1) of JSON bytes -> N Predictions."""
    return [Prediction.from_dict(json.loads(bytes(v).decode())) for v in np.asarray(raw).reshape(-1)]


class TritonClient:
    """url: the server's HTTP endpoint (host:port); model: the ensemble's name."""

    def __init__(self, url: str = "localhost:8000", model: str = "edgefashion",
                 timeout_s: float = 60.0) -> None:
        try:
            import tritonclient.http as http
        except ImportError as e:
            raise BackendUnavailable(f'the Triton client needs tritonclient ({e}): pip install '
                                     '"edgefashion[triton]"') from e
        self._http = http
        self.model = model
        self.client = http.InferenceServerClient(url, connection_timeout=timeout_s,
                                                 network_timeout=timeout_s)

    def predict(self, images: Sequence[Any] | Any) -> list[Prediction] | Prediction:
        """One image -> one Prediction; a list -> a list (one request)."""
        single = not isinstance(images, (list, tuple))
        data = encode_images([images] if single else list(images))
        inp = self._http.InferInput("IMAGE", list(data.shape), "BYTES")
        inp.set_data_from_numpy(data, binary_data=True)
        out = self._http.InferRequestedOutput(OUTPUT, binary_data=True)
        result = self.client.infer(self.model, [inp], outputs=[out])
        preds = parse_answers(result.as_numpy(OUTPUT))
        return preds[0] if single else preds

    def ready(self) -> bool:
        return bool(self.client.is_server_ready() and self.client.is_model_ready(self.model))

    def close(self) -> None:
        self.client.close()
