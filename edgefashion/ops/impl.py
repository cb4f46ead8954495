"""Which implementation the fused operators use: one switch, a ContextVar.

``set_impl("reference")`` switches for the current context; ``with set_impl("fused"): ...``
switches for a block. "auto" uses the fused kernel where the extension has it, else the reference.
The custom-op ONNX export flag lives here too: ``fused.custom_op_export`` sets it and ``_dispatch``
reads it, so neither of those two modules imports the other for it.
"""
from __future__ import annotations

import contextvars

from edgefashion.errors import unknown_name

IMPLS = ("auto", "fused", "reference")
_IMPL: contextvars.ContextVar[str] = contextvars.ContextVar("edgefashion_ops_impl", default="auto")


class _ImplScope:
    def __init__(self, token: contextvars.Token) -> None:
        self._token = token

    def __enter__(self) -> "_ImplScope":
        return self

    def __exit__(self, *exc) -> None:
        _IMPL.reset(self._token)


def set_impl(name: str) -> _ImplScope:
    """Select "auto" | "fused" | "reference"; usable as a plain call or a context manager."""
    if name not in IMPLS:
        raise unknown_name("ops implementation", name, IMPLS)
    return _ImplScope(_IMPL.set(name))


def get_impl() -> str:
    return _IMPL.get()


# On while ``fused.custom_op_export()`` is active: the ONNX exporter then traces the custom ops.
_CUSTOM_OP_EXPORT = [False]


def custom_op_export_active() -> bool:
    return _CUSTOM_OP_EXPORT[0]


def set_custom_op_export(on: bool) -> bool:
    """Turn the flag on / off; returns the previous value (for a ``finally`` to restore)."""
    previous = _CUSTOM_OP_EXPORT[0]
    _CUSTOM_OP_EXPORT[0] = bool(on)
    return previous
