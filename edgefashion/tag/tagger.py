"""tag_images: SOURCE -> OUT.parquet (a folder of parts), resumable, with the local or Ray engine."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping

from edgefashion.errors import BadInput
from edgefashion.tag.options import TagOptions, TagSummary
from edgefashion.tag.resume import TagOutput

OnPart = Callable[[int, int], None]  # (rows written by this part, rows written so far)


def tag_images(source: Any, output: str | Path, model: str | Path,
               options: TagOptions | Mapping | None = None, *, on_part: OnPart | None = None,
               **kw: Any) -> TagSummary:
    """Tag every image of ``source`` with ``model`` into ``output`` (a Parquet dataset folder).

    source: a folder, glob, list file, Parquet / CSV table with a path column, an fsspec URL of
    one of these (edgefashion/tag/sources.py), or a list of paths. Images already in ``output``
    are skipped. options: TagOptions (or a dict); keyword arguments override its fields, e.g.
    ``tag_images("photos/", "out.parquet", "m.onnx", engine="ray", workers=2)``.
    on_part: called after each part is written (progress hooks, tests).
    """
    from edgefashion.tag.sources import list_images

    opts = _options(options, kw)
    engine = _engine(opts.engine)  # a missing Ray says how to install it before any work
    model = str(model)
    if not Path(model).is_file():
        raise BadInput(f"model {model!r} does not exist; pass a .onnx, .pt, .engine or .xml file")
    paths = list_images(source, opts.path_column) if isinstance(source, (str, Path)) else \
        list(dict.fromkeys(str(p) for p in source))
    out = TagOutput(output, _manifest(model, opts), overwrite=opts.overwrite)
    out.cleanup()
    todo = out.todo(paths)
    blocks = [todo[i:i + opts.block_size] for i in range(0, len(todo), opts.block_size)]
    t0 = time.perf_counter()
    if blocks:
        with _progress(len(todo), opts.progress) as bar:
            def write(table) -> None:
                n = out.write(table)
                bar.update(n)
                if on_part is not None:
                    on_part(n, out.rows_written)

            engine(model, blocks, opts, write)
    return TagSummary(str(out.path), len(paths), len(paths) - len(todo), out.rows_written,
                      out.errors_written, time.perf_counter() - t0, opts.engine)


def _options(options: TagOptions | Mapping | None, kw: Mapping) -> TagOptions:
    if isinstance(options, TagOptions):
        base = options.to_dict()
    elif options is None:
        base = {}
    else:
        base = dict(options)
    return TagOptions.from_dict({**base, **kw})  # an unknown key, in either, is a BadInput


def _engine(name: str) -> Callable:
    if name == "ray":
        from edgefashion.tag.ray_engine import import_ray, run_ray

        import_ray()
        return run_ray
    from edgefashion.tag.local_engine import run_local

    return run_local


def _manifest(model: str, opts: TagOptions) -> dict:
    """What the output records about its model: a resume with another model's labels is refused."""
    schema = _schema(model, opts)
    return {"model": str(Path(model).resolve()), "categories": list(schema.category_names),
            "attributes": list(schema.attribute_names), "top_k": opts.top_k,
            "threshold": opts.threshold, "created_by": "edgefashion tag"}


def _schema(model: str, opts: TagOptions):
    """The model's LabelSchema, from its metadata alone where it can be read without loading the
    model (the driver of a GPU cluster may have no GPU, TensorRT or even onnxruntime)."""
    from edgefashion.runtime.metadata import read_onnx_metadata, read_sidecar, schema_from_metadata

    suffix = Path(model).suffix.lower()
    meta = read_onnx_metadata(model) if suffix == ".onnx" else \
        read_sidecar(model) if suffix in (".engine", ".plan") else None
    schema = schema_from_metadata(meta)
    if schema is not None:
        return schema
    from edgefashion.runtime.predictor import Predictor

    with Predictor(model, backend=opts.backend, **({"device": opts.device} if opts.device else {})
                   ) as p:
        return p.schema


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc) -> None:
        pass


def _progress(total: int, show: bool):
    if not show:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="img", desc="tag", smoothing=0.1)
