"""Which implementation the fused operators use: one switch, a ContextVar.

``set_impl("reference")`` switches for the current context; ``with set_impl("fused"): ...``
switches for a block. "auto" uses the fused kernel where the extension has it, else the reference.
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
