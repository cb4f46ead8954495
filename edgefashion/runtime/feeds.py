"""Feeding a backend a preprocessed batch: the image input plus neutral extra inputs, static batches
padded. Shared by the Predictor and the self-test, so that both run a model the same way."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def split_inputs(specs: Mapping) -> tuple[str, dict]:
    """The image input's name ("image", else the first) and the other inputs' specs."""
    name = "image" if "image" in specs else next(iter(specs))
    return name, {n: s for n, s in specs.items() if n != name}


def static_batch(specs: Mapping, name: str) -> int | None:
    """The model's fixed batch size, or None when the batch dimension is dynamic."""
    first = specs[name].shape[0]
    return first if isinstance(first, int) else None


def feed_batch(backend, x: np.ndarray, input_name: str, extra_inputs: Mapping, fixed_batch: int | None,
               fill_dim: int = 0, known: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Raw outputs of ``backend`` for x: (N, 3, S, S) float32, any N.

    extra_inputs: name -> spec of the other inputs; "known" gets ``known`` or zeros (N, A), A from
    the spec or ``fill_dim`` where dynamic. A static-batch model runs chunks of ``fixed_batch``, the
    last padded with zeros; outputs are cut back to N rows.
    """
    feeds = {input_name: x}
    for name, spec in extra_inputs.items():
        given = known if name == "known" else None
        shape = [len(x)] + [d if isinstance(d, int) else fill_dim for d in spec.shape[1:]]
        feeds[name] = np.zeros(shape, np.float32) if given is None else given
    n, b = len(x), fixed_batch
    if not b or n == b:
        return backend.infer(feeds)
    parts = []
    for i in range(0, n, b):
        chunk = {}
        for k, v in feeds.items():
            chunk[k] = np.zeros((b, *v.shape[1:]), v.dtype)
            chunk[k][:len(v[i:i + b])] = v[i:i + b]
        parts.append(backend.infer(chunk))
    return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}
