"""Fake quantization for QAT with NVIDIA ModelOpt (``nvidia-modelopt``), in TensorRT's explicit-quantization
layout, with the conventions of the PTQ file (precision/int8.py) so that the two compare.

``insert_quantizers(model, keep, batches)`` puts ModelOpt TensorQuantizers on the input and the weight
of every Conv2d / ConvTranspose2d / Linear module: per-tensor symmetric int8 activations, per-channel
symmetric int8 weights along the output channel (Conv, Linear: axis 0; ConvTranspose: axis 1), zero
point 0, biases fp32. The modules that ``keep`` names (the int8 keep-fp32 presets and patterns, read on
module names) get none. The ranges are calibrated by ModelOpt's "max" algorithm on ``batches``.
Exported with ``torch.onnx.export`` (the TorchScript exporter, opset 17) each quantizer becomes a
QuantizeLinear / DequantizeLinear pair; ``fold_weight_quantizers`` then stores the weights as int8
initializers behind their DequantizeLinear (the PTQ file's layout, 4x smaller).

Batch norms stay behind their convs (Conv -> BatchNormalization in the ONNX, in eval mode and frozen
during QAT): TensorRT fuses them into the int8 convolution itself ("there is no need to simulate
BN-folding in the training network", TensorRT Developer Guide, explicit quantization), and ONNX Runtime
and OpenVINO run them as they are. Unlike ONNX Runtime's PTQ, which also puts Q/DQ around Add, Mul,
Concat and pooling, only Conv / Linear inputs and weights are quantized (ModelOpt's placement).

timm's ``Conv2dSame`` (EfficientNet-Lite's stride-2 convs, TF "same" padding) overrides ``forward``, so
ModelOpt does not convert it as a Conv2d; it is registered here, with the input quantizer after the
padding so that the DequantizeLinear feeds the Conv directly (TensorRT fuses DQ -> Conv).
"""
from __future__ import annotations

import contextlib
import fnmatch
import io
import logging
import warnings
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from edgefashion.errors import BackendUnavailable, BadInput

LIBRARY = "nvidia-modelopt"
# the modules that get quantizers, by ModelOpt's registry name; ConvTranspose weights are (in, out, ...)
QUANTIZED = {"nn.Conv2d": 0, "timm.Conv2dSame": 0, "nn.ConvTranspose2d": 1, "nn.Linear": 0}
PRESETS = ("first-conv", "heads", "gates")
HEADS = ("category_head", "attribute_head")
WEIGHT_BITS = (8, 7)


def modelopt():
    """-> (modelopt.torch.quantization, version); BackendUnavailable naming the package."""
    try:
        with _quiet():
            import modelopt
            import modelopt.torch.quantization as mtq
    except ImportError as e:
        raise BackendUnavailable(f"QAT needs NVIDIA ModelOpt ({e}); pip install nvidia-modelopt "
                                 "(or pip install 'edgefashion[qat]')") from e
    _register_conv2d_same()
    return mtq, modelopt.__version__


@contextlib.contextmanager
def _quiet():
    """ModelOpt's import warns about torch.jit and transformers, torch's extension loader about CUDA,
    and ``mtq.quantize`` prints a line: none of it concerns the user of a CPU QAT run."""
    cpp = logging.getLogger("torch.utils.cpp_extension")
    level = cpp.level
    cpp.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        cpp.setLevel(level)


def _register_conv2d_same() -> None:
    from modelopt.torch.quantization import tensor_quant
    from modelopt.torch.quantization.nn.modules.quant_module import QuantLinearConvBase, QuantModuleRegistry
    from timm.layers.conv2d_same import Conv2dSame
    from timm.layers.padding import pad_same

    if "timm.Conv2dSame" in QuantModuleRegistry:
        return

    class QuantConv2dSame(QuantLinearConvBase):
        default_quant_desc_weight = tensor_quant.QUANT_DESC_8BIT_CONV2D_WEIGHT_PER_CHANNEL

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.input_quantizer(pad_same(x, self.weight.shape[-2:], self.stride, self.dilation))
            with self.quantize_weight():
                return nn.functional.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation,
                                            self.groups)

    QuantModuleRegistry.register({Conv2dSame: "timm.Conv2dSame"})(QuantConv2dSame)


def resolve_modules(model: nn.Module, patterns: Iterable[str], example: torch.Tensor) -> list[str]:
    """The names of the modules ``patterns`` keep in fp32, in model order.

    A pattern is a preset ("first-conv": the first convolution the forward pass runs; "heads": the
    category / attribute heads; "gates": the attention blocks), a glob over module names
    (``*blocks.0.*``) or a substring of them. The presets and globs of the int8 defaults
    (precision/quantize.py ``int8_defaults``) name the same layers here as on the ONNX graph. A
    pattern that matches nothing is an error naming it. ``example``: (N, 3, S, S), for "first-conv".
    """
    from edgefashion.models.attention import ChannelAttention, SpatialGate

    names = [n for n, _ in model.named_modules() if n]
    chosen: set[str] = set()
    for pat in (str(p).strip() for p in patterns):
        if pat == "first-conv":
            found = [_first_conv(model, example)]
        elif pat == "heads":
            found = [n for n in names if n.split(".")[0] in HEADS]
        elif pat == "gates":
            gates = [n for n, m in model.named_modules() if isinstance(m, (SpatialGate, ChannelAttention))]
            found = [n for n in names if any(n == g or n.startswith(g + ".") for g in gates)]
        elif pat.startswith("op:"):
            raise BadInput(f"keep-fp32 pattern {pat!r} names ONNX ops; QAT keeps modules: use a preset "
                           f"({', '.join(PRESETS)}), a glob or a substring of module names")
        elif any(c in pat for c in "*?["):
            found = [n for n in names if fnmatch.fnmatchcase(n, pat)]
        else:
            found = [n for n in names if pat and pat in n]
        if not found:
            raise BadInput(f"keep-fp32 pattern {pat!r} matches no module of the model; use a preset "
                           f"({', '.join(PRESETS)}), a glob or a substring of module names "
                           f"(e.g. {', '.join(repr(n) for n in names[:3])})")
        chosen.update(found)
    return [n for n in names if n in chosen]


def _first_conv(model: nn.Module, example: torch.Tensor) -> str:
    order: list[str] = []
    hooks = [m.register_forward_hook(lambda *_, n=n: order.append(n))
             for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(example[:1])
    finally:
        for h in hooks:
            h.remove()
    if not order:
        raise BadInput(f"keep-fp32 preset 'first-conv': {type(model).__name__} runs no Conv2d")
    return order[0]


def quant_config(kept: Sequence[str]) -> dict:
    """ModelOpt's config: int8 inputs (per tensor) and weights (per output channel) of the QUANTIZED
    module types, none on the ``kept`` modules; max calibration."""
    entries: list[dict] = [{"quantizer_name": "*", "enable": False}]
    for cls, axis in QUANTIZED.items():
        entries += [{"quantizer_name": "*input_quantizer", "parent_class": cls,
                     "cfg": {"num_bits": 8, "axis": None}},
                    {"quantizer_name": "*weight_quantizer", "parent_class": cls,
                     "cfg": {"num_bits": 8, "axis": axis}}]
    entries += [{"quantizer_name": f"{name}.*", "enable": False} for name in kept]
    return {"quant_cfg": entries, "algorithm": "max"}


def insert_quantizers(model: nn.Module, keep: Sequence[str], batches: Sequence[torch.Tensor],
                      weight_bits: int = 8) -> dict:
    """Quantize ``model`` in place (see the module docstring) and calibrate it on ``batches``
    ((N, 3, S, S) tensors, eval mode). weight_bits 7 keeps the int8 weights in [-63, 63] (as
    precision/int8.py does for CPUs without VNNI): the weight ranges are widened by 127 / 63, so the
    8-bit quantizers (the only ones ModelOpt exports to ONNX) use 63 steps on each side.
    -> {"kept": fp32 module names, "quantized": names of the modules with quantizers}."""
    if weight_bits not in WEIGHT_BITS:
        raise BadInput(f"weight_bits {weight_bits!r} must be 8 or 7 (7: CPUs without VNNI)")
    mtq, _ = modelopt()
    kept = resolve_modules(model, keep, batches[0])

    def forward_loop(m: nn.Module) -> None:
        with torch.no_grad():
            for x in batches:
                m(x)

    with _quiet():
        mtq.quantize(model.eval(), quant_config(kept), forward_loop)
    quantized = [n for n, m in model.named_modules()
                 if _enabled(getattr(m, "weight_quantizer", None))]
    if weight_bits == 7:
        for n in quantized:
            q = model.get_submodule(n).weight_quantizer
            q.amax = q.amax * (127.0 / 63.0)
    leaves = [n for n, m in model.named_modules() if hasattr(m, "weight_quantizer")]
    return {"kept": [n for n in leaves if n not in quantized], "quantized": quantized}


def _enabled(quantizer) -> bool:
    return quantizer is not None and bool(getattr(quantizer, "is_enabled", False))


def clip_weights_to_ranges(model: nn.Module, weight_bits: int = 8) -> float:
    """Clip each quantized weight to its calibrated range (in place), the one ``weight_bits`` use
    (7: the int8 range's 63 / 127); -> the largest overshoot, as a fraction of its channel's range.

    QAT may grow a weight past the range its quantizer was calibrated to (Adam moves the largest
    weight of a channel by about the lr per step); int8 clips it to the range's end anyway, so 8-bit
    answers do not change, and a 7-bit file (weight_bits 7) must not hold it as 64..127. Call before
    export."""
    worst = 0.0
    with torch.no_grad():
        for m in model.modules():
            q = getattr(m, "weight_quantizer", None)
            if _enabled(q) and q.amax is not None:
                w = m.weight
                amax = q.amax.to(w.dtype) * (((1 << (weight_bits - 1)) - 1) / 127.0)
                worst = max(worst, float(((w.abs() - amax) / amax).max()))
                w.copy_(torch.maximum(torch.minimum(w, amax), -amax))
    return max(worst, 0.0)


def fold_weight_quantizers(model) -> int:
    """QuantizeLinear of a constant fp32 weight -> the int8 initializer it computes (in place, on an
    onnx.ModelProto); -> how many. The DequantizeLinear that reads it is unchanged, so the graph's
    function is the same (ONNX rounds half to even, as numpy's ``rint``)."""
    import numpy as np
    from onnx import numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node
              if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    consts.update({k: numpy_helper.to_array(t) for k, t in inits.items()})
    folded = []
    for node in g.node:
        if node.op_type != "QuantizeLinear" or node.input[0] not in inits or len(node.input) < 3 \
                or node.input[1] not in consts or node.input[2] not in consts:
            continue
        w, scale, zp = consts[node.input[0]], consts[node.input[1]], consts[node.input[2]]
        if zp.dtype != np.int8:
            continue
        shape = [1] * w.ndim
        if scale.size > 1:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape[axis] = -1
        q = np.clip(np.rint(w / scale.reshape(shape)) + zp.reshape(shape), -128, 127).astype(np.int8)
        g.initializer.append(numpy_helper.from_array(q, node.output[0]))
        folded.append(node)
    for node in folded:
        g.node.remove(node)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)
    return len(folded)
