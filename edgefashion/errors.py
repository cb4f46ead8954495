"""One error hierarchy for the whole SDK.

Every message says what was wrong (with the offending value) and what to do about it. The CLI
prints ``error: <message>`` and exits non-zero; ``--verbose`` shows the traceback.
"""
from __future__ import annotations


class EdgeFashionError(Exception):
    """Base class of every error edgefashion raises on purpose."""


class BadInput(EdgeFashionError, ValueError):
    """An input (image, array, argument) cannot be used as given."""


class ImageDecodeError(BadInput):
    """An image file or buffer is missing, corrupt, truncated, empty or too large."""


class ShapeError(BadInput):
    """A tensor or array has the wrong shape, dtype or layout."""


class SchemaError(EdgeFashionError, ValueError):
    """A LabelSchema is inconsistent, or disagrees with a model."""


class DatasetError(EdgeFashionError):
    """A dataset folder or annotation file is missing or malformed."""


class ModelFileError(EdgeFashionError):
    """A file given as a model is not one (wrong format, corrupt, unknown model name)."""


class MissingMetadata(ModelFileError):
    """A model file has no edgefashion metadata; pass a LabelSchema explicitly."""


class UnknownName(EdgeFashionError, KeyError):
    """A registry lookup failed; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class BackendUnavailable(EdgeFashionError, RuntimeError):
    """A runtime (onnxruntime, torch, tensorrt) is not installed or cannot run here."""


class BackendError(EdgeFashionError, RuntimeError):
    """The runtime failed on inputs that match the model's declared inputs (out of memory, a driver
    or kernel fault, a broken graph): not the caller's fault, so a server answers 5xx, not 400."""


class ExtensionNotBuilt(EdgeFashionError, RuntimeError):
    """The compiled extension ``edgefashion._C`` (or one of its kernels) is not available."""


class ExportError(EdgeFashionError, RuntimeError):
    """Exporting a model failed, or the exported model disagrees with PyTorch."""


class EngineMismatch(EdgeFashionError, RuntimeError):
    """An engine was built for another TensorRT version, GPU or file."""


EngineMismatchError = EngineMismatch


class SelfTestError(EdgeFashionError, RuntimeError):
    """An artifact's answers on its own reference inputs drifted beyond its precision's tolerance."""


def unknown_name(kind: str, name: str, valid) -> UnknownName:
    """Build the registry error: ``unknown model 'x'; valid: a, b, c``."""
    names = ", ".join(sorted(valid)) or "(none registered)"
    return UnknownName(f"unknown {kind} {name!r}; valid {kind}s: {names}")


class DownloadNotAllowed(EdgeFashionError, RuntimeError):
    """Weights need a download and downloads are off (the default); allow them or give a file."""
