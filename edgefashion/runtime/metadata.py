"""The edgefashion metadata that travels with every artifact, read without torch or onnx.

Layout (JSON): {"format_version": 1, "model": name, "model_config": {...}, "schema": {...},
"preprocess": {...}, "outputs": [...], "export": {...}}. It lives in the ONNX ``metadata_props``
under the key "edgefashion", in the engine's JSON sidecar (``model.engine.json``) and, in another
layout, inside the checkpoint (see ``metadata_from_checkpoint``).
"""
from __future__ import annotations

import json
import mmap
from pathlib import Path
from typing import Mapping

from edgefashion.errors import ModelFileError

METADATA_KEY = "edgefashion"
FORMAT_VERSION = 1


def make_metadata(model: str, model_config: Mapping, schema, preprocess, outputs,
                  export: Mapping | None = None) -> dict:
    """The metadata dict; ``schema`` / ``preprocess`` are LabelSchema / PreprocessConfig or dicts."""
    return {
        "format_version": FORMAT_VERSION,
        "model": str(model),
        "model_config": dict(model_config),
        "schema": schema if isinstance(schema, Mapping) else schema.to_dict(),
        "preprocess": preprocess if isinstance(preprocess, Mapping) else preprocess.to_dict(),
        "outputs": list(outputs),
        "export": dict(export or {}),
    }


def parse_metadata(raw: str | bytes | Mapping, source: str = "the model") -> dict:
    """Decode and check the metadata JSON; ModelFileError when it is malformed or too new."""
    if isinstance(raw, Mapping):
        meta = dict(raw)
    else:
        try:
            meta = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ModelFileError(f"the edgefashion metadata in {source} is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise ModelFileError(f"the edgefashion metadata in {source} is a {type(meta).__name__}, "
                             "not a JSON object; re-export the model")
    version = meta.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{source} has edgefashion metadata format_version {version!r}, newer than this "
            f"edgefashion understands ({FORMAT_VERSION}); upgrade edgefashion"
        )
    return meta


def read_onnx_metadata(session_or_path, key: str = METADATA_KEY) -> dict | None:
    """The edgefashion metadata of an ONNX model, or None when it has none.

    ``session_or_path``: an ``onnxruntime.InferenceSession`` (read through its modelmeta) or a
    path (read from the protobuf directly: needs neither onnx nor onnxruntime).
    """
    if hasattr(session_or_path, "get_modelmeta"):
        props = dict(session_or_path.get_modelmeta().custom_metadata_map)
        source = "the ONNX session"
    else:
        path = Path(session_or_path)
        props = onnx_metadata_props(path)
        source = repr(str(path))
    if key not in props:
        return None
    return parse_metadata(props[key], source)


def onnx_metadata_props(path: str | Path) -> dict[str, str]:
    """``ModelProto.metadata_props`` as a dict; ModelFileError when the file is not an ONNX model."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist (or is not a file)")
    not_onnx = ModelFileError(
        f"{str(path)!r} is not an ONNX model (it does not parse as an ONNX ModelProto); "
        "export one with `edgefashion export` or check the path"
    )
    if path.stat().st_size == 0:
        raise not_onnx
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        try:
            fields = _fields(buf, 0, len(buf))
            wires = {num: wire for num, wire, _ in fields}
            if wires.get(1) != 0 or wires.get(7) != 2:  # ir_version and graph are always there
                raise ValueError("no ir_version or graph")
            props = {}
            for num, _, (start, end) in fields:
                if num == 14:  # metadata_props: StringStringEntryProto {key = 1; value = 2}
                    entry = {n: bytes(buf[a:b]).decode("utf-8", "replace")
                             for n, _, (a, b) in _fields(buf, start, end)}
                    props[entry.get(1, "")] = entry.get(2, "")
        except (IndexError, ValueError) as e:
            raise not_onnx from e
    return props


# Protobuf wire format, just enough to walk ModelProto's top-level fields.
def _varint(buf, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf, start: int, end: int) -> list:
    """[(field number, wire type, (start, end) of the payload)] of one message."""
    i, out = start, []
    while i < end:
        tag, i = _varint(buf, i)
        num, wire = tag >> 3, tag & 7
        if num == 0:
            raise ValueError("field number 0")
        if wire == 0:
            _, j = _varint(buf, i)
        elif wire == 1:
            j = i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            j = i + n
        elif wire == 5:
            j = i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if j > end:
            raise ValueError("field runs past the end of the message")
        out.append((num, wire, (i, j)))
        i = j
    return out


def recorded_precision(meta: Mapping | None) -> str | None:
    """The precision an artifact's metadata records: its "precision" block's (quantize writes a
    block, older files a string), else the export's; None when it records none."""
    meta = meta or {}
    found = meta.get("precision") or (meta.get("export") or {}).get("precision")
    if isinstance(found, Mapping):
        found = found.get("precision")
    return str(found) if found else None


def onnx_file_precision(path: str | Path) -> str | None:
    """``recorded_precision`` of an ONNX file; None when it has none or cannot be read (the
    backend that opens it says why)."""
    from edgefashion.errors import EdgeFashionError

    try:
        return recorded_precision(read_onnx_metadata(path))
    except EdgeFashionError:
        return None


def sidecar_path(engine_path: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    p = Path(engine_path)
    return p.with_name(p.name + ".json")


def read_sidecar(engine_path: str | Path) -> dict | None:
    """The metadata in an engine's JSON sidecar, or None when there is no sidecar."""
    side = sidecar_path(engine_path)
    if not side.is_file():
        return None
    return parse_metadata(side.read_text(encoding="utf-8"), repr(str(side)))


def metadata_from_checkpoint(ckpt: Mapping, outputs=()) -> dict:
    """Metadata in the artifact layout from a raw checkpoint dict (format edgefashion-checkpoint)."""
    return make_metadata(
        ckpt.get("model", "?"), ckpt.get("model_config", {}), ckpt.get("schema", {}),
        ckpt.get("preprocess", {}), outputs, {"source": "checkpoint"},
    )


def schema_from_metadata(meta: Mapping | None):
    """The LabelSchema in ``meta`` or None."""
    from edgefashion.labels import LabelSchema

    if not meta or not meta.get("schema"):
        return None
    return LabelSchema.from_dict(meta["schema"])


def preprocess_from_metadata(meta: Mapping | None):
    """The PreprocessConfig in ``meta`` or None."""
    from edgefashion.runtime.preprocess import PreprocessConfig

    if not meta or not meta.get("preprocess"):
        return None
    return PreprocessConfig.from_dict(meta["preprocess"])
