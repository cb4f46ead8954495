"""Shared helpers for the runtime tests (the fixtures are in conftest.py)."""
from __future__ import annotations

import struct
import zlib

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from edgefashion.labels import Attribute, Category, LabelSchema

INPUT_SIZE = 64
CATEGORIES = [  # the clothing-small folders, with a body type each
    ("dress", "full"), ("hat", "any"), ("longsleeve", "upper"), ("outwear", "upper"),
    ("pants", "lower"), ("shirt", "upper"), ("shoes", "any"), ("shorts", "lower"),
    ("skirt", "lower"), ("t-shirt", "upper"),
]
ATTRIBUTES = [
    ("striped", "texture", 0.5), ("dotted", "texture", 0.5), ("plain", "texture", 0.5),
    ("short-sleeve", "sleeve", 0.5), ("long-sleeve", "sleeve", 0.6),
    ("v-neck", "neck", 0.5), ("crew-neck", "neck", 0.4),
]


def make_schema() -> LabelSchema:
    return LabelSchema(
        categories=tuple(Category(n, t) for n, t in CATEGORIES),
        attributes=tuple(Attribute(n, g, t) for n, g, t in ATTRIBUTES),
        exclusive_groups=("sleeve", "neck"),
        applicability={"lower": ("texture",), "hat": ("texture",)},
    )


def png_header(width: int, height: int) -> bytes:
    """A syntactically valid PNG (signature, IHDR, empty IDAT, IEND) claiming width x height."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + \
        chunk(b"IEND", b"")


def encode(img: np.ndarray, ext: str = ".png") -> bytes:
    import cv2

    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def lsuv_(model, x):
    """Rescale every conv / linear layer so its output has unit std on ``x`` (LSUV-style init).

    A randomly initialised deep net (torchvision's VGG init) gives almost input-independent outputs;
    after this the tiny test model's scores, top-1 and gate maps vary with the image, so numerical
    comparisons between backends mean something. One forward pass: each layer is rescaled when it
    first runs and its output is rescaled in flight, so later layers see the rescaled network.
    """
    import torch

    done: set[int] = set()

    def rescale(module, inputs, output):
        if id(module) in done:
            return None
        done.add(id(module))
        std = float(output.std())
        if std <= 1e-8:
            return None
        module.weight.div_(std)
        if module.bias is not None:
            module.bias.div_(std)
        return output / std

    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    hooks = [m.register_forward_hook(rescale) for m in layers]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return model


def smooth_noise(n: int, size: int, seed: int = 0) -> np.ndarray:
    """(n, 3, size, size) float32 blurred noise, normalised: a stand-in for photos."""
    import cv2

    rng = np.random.default_rng(seed)
    out = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        img = cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)).astype(np.float32), (0, 0), 3)
        out[i] = (img / img.std()).transpose(2, 0, 1)
    return out


def huge_branch(graph, source: str, name: str = "oom") -> None:
    """Add an output that broadcasts the mean of ``source`` (all dims 1) to shape
    (n * 2^20, d1 * 2^20, n * 2^20, d1) from the first two dims (n, d1) of ``source``: at least 2^60
    floats, which no machine can allocate, whatever the input's values."""
    k = numpy_helper.from_array(np.array([1 << 20, 1 << 20, 1 << 20, 1], np.int64), f"{name}_k")
    graph.initializer.append(k)
    graph.node.extend([
        helper.make_node("Shape", [source], [f"{name}_s"], name=f"/{name}/Shape", end=2),
        helper.make_node("Concat", [f"{name}_s", f"{name}_s"], [f"{name}_t"], name=f"/{name}/Concat", axis=0),
        helper.make_node("Mul", [f"{name}_t", f"{name}_k"], [f"{name}_shape"], name=f"/{name}/Mul"),
        helper.make_node("ReduceMean", [source], [f"{name}_one"], name=f"/{name}/ReduceMean", keepdims=1),
        helper.make_node("Expand", [f"{name}_one", f"{name}_shape"], [name], name=f"/{name}/Expand")])
    graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
