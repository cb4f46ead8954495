"""Runtimes behind one interface: ``Backend.infer(dict) -> dict``. Nothing heavy is imported here."""
from edgefashion.runtime.backends.base import (
    ALIASES,
    BACKENDS,
    SUFFIXES,
    Backend,
    TensorSpec,
    available_backends,
    backend_name_for,
    get_backend,
    list_backends,
    load_backend,
)

__all__ = [
    "Backend", "TensorSpec", "BACKENDS", "SUFFIXES", "ALIASES", "available_backends",
    "backend_name_for", "get_backend", "list_backends", "load_backend",
]
