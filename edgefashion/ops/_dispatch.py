"""Pick the implementation of an op for one call, from the ContextVar and what is built.

Imports ``edgefashion.ops.fused`` (lazily: it needs torch and registers the custom ops); ``fused``
does not import this module (the export flag both read lives in ``impl``).
"""
from __future__ import annotations

from typing import Callable

from edgefashion.errors import ExtensionNotBuilt
from edgefashion.ops.impl import custom_op_export_active, get_impl


_FUSED: list = []  # the imported edgefashion.ops.fused module, once found (looked up on every op call)


def _fused_table() -> dict[str, Callable]:
    """name -> fused callable, for the ops the extension provides (empty when not built)."""
    if not _FUSED:
        try:
            from edgefashion.ops import fused  # registers the torch custom ops around edgefashion._C
        except ImportError:
            fused = None
        _FUSED.append(fused)
    return {} if _FUSED[0] is None else _FUSED[0].available_ops()


def _export_table() -> dict[str, Callable]:
    """The custom ops to trace while exporting with custom-op nodes (whether or not a kernel is built)."""
    try:
        from edgefashion.ops import fused
    except ImportError:
        return {}
    return fused.export_ops()


def fused_op(name: str, x) -> Callable | None:
    """The fused callable to use for ``name`` on tensor ``x``, or None for the reference."""
    if custom_op_export_active() and _in_onnx_export():
        return _export_table().get(name)
    impl = get_impl()
    if impl == "reference" or _exporting():
        return None
    op = _fused_table().get(name)
    if op is not None and not op.supports(x):
        op = None
    if op is None and impl == "fused":
        raise ExtensionNotBuilt(
            f"set_impl('fused') but no fused {name} kernel runs on {x.device} {x.dtype}; "
            "build the extension (pip install -e . with a C++ compiler, nvcc for CUDA) "
            "or use set_impl('auto')"
        )
    return op


def _in_onnx_export() -> bool:
    import torch

    return bool(torch.onnx.is_in_onnx_export())


def _exporting() -> bool:
    """ONNX export keeps the reference decomposition unless custom-op export is asked for."""
    return _in_onnx_export() and not custom_op_export_active()
