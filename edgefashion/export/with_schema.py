"""A copy of a model file whose LabelSchema is replaced (new temperatures, thresholds): weights and
graph untouched, the rest of the metadata kept. Checkpoints (.pt) and ONNX files (fp32, fp16 or int8)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from edgefashion.errors import BadInput
from edgefashion.labels import LabelSchema


def write_with_schema(src: str | Path, dst: str | Path, schema: LabelSchema) -> Path:
    """Write ``src`` with ``schema`` to ``dst`` (atomically; ``dst`` may be ``src``)."""
    src, dst = Path(src), Path(dst)
    if src.suffix == ".pt":
        return _checkpoint(src, dst, schema)
    if src.suffix == ".onnx":
        return _onnx(src, dst, schema)
    raise BadInput(f"{str(src)!r}: only a checkpoint (.pt) or an ONNX file (.onnx) can take a new schema; "
                   "update the .onnx an engine or OpenVINO model was made from, then build it again")


def _checkpoint(src: Path, dst: Path, schema: LabelSchema) -> Path:
    import torch

    from edgefashion.models.checkpoint import read_checkpoint

    ckpt = read_checkpoint(src)
    old = LabelSchema.from_dict(ckpt["schema"])
    schema.check_outputs(old.num_categories, old.num_attributes, f"checkpoint {str(src)!r}")
    ckpt["schema"] = schema.to_dict()
    return _atomic(src, dst, lambda tmp: torch.save(ckpt, tmp))


def _onnx(src: Path, dst: Path, schema: LabelSchema) -> Path:
    import onnx

    from edgefashion.errors import ModelFileError
    from edgefashion.export.metadata import METADATA_KEY, set_onnx_metadata

    model = onnx.load(str(src))
    raw = next((p.value for p in model.metadata_props if p.key == METADATA_KEY), None)
    if raw is None:
        raise ModelFileError(f"{str(src)!r} has no edgefashion metadata; export it with `edgefashion export`")
    meta = json.loads(raw)
    old = LabelSchema.from_dict(meta["schema"])
    schema.check_outputs(old.num_categories, old.num_attributes, f"ONNX file {str(src)!r}")
    meta["schema"] = schema.to_dict()
    set_onnx_metadata(model, meta)
    return _atomic(src, dst, lambda tmp: onnx.save(model, tmp))


def _atomic(src: Path, dst: Path, write) -> Path:
    """Write through a temp file beside ``dst``, with ``src``'s permissions (mkstemp's are 0600:
    a server running as another user could not read the copy)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=dst.suffix)
    os.close(fd)
    try:
        write(tmp)
        shutil.copymode(src, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dst
