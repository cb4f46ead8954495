"""TagWorker: one Predictor that turns a table of image paths into a table of rows.

The same class runs in both engines: in-process threads for ``--runner local``, and as the callable
class of Ray Data's ``map_batches`` for ``--runner ray`` (one instance, so one Predictor, per actor).
Because both engines cut the path list into the same blocks and the worker cuts each block into
the same Predictor batches, both give bit-identical answers.

Per image, reading and decoding run in a small thread pool, one Predictor batch ahead of inference
(OpenCV and file reads release the GIL). A file that is missing, unreadable or corrupt becomes a
row with its error; an inference failure is not an image's fault and fails the block (Ray retries it).
"""
from __future__ import annotations

import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from edgefashion.errors import EdgeFashionError, ImageDecodeError
from edgefashion.tag.rows import error_row, prediction_row, to_table


def is_url(path: str) -> bool:
    return "://" in str(path) and not str(path).startswith("file://")


def read_source(path: str) -> Any:
    """What the Predictor decodes: a local path as it is, or the bytes behind an fsspec URL."""
    if not is_url(path):
        return path[7:] if str(path).startswith("file://") else path
    import fsspec

    with fsspec.open(path, "rb") as f:
        return f.read()


class TagWorker:
    """model: a model path, or {file name: bytes} shipped by the Ray engine (written to a temp
    folder on the worker, so a cluster needs no shared filesystem for the model).
    top_k: categories in ``top_k``; batch_size: images per inference; decode_threads: readers /
    decoders; threshold: attribute threshold(s) as for Predictor.__call__; predictor_options go to
    Predictor() (backend, device, threads, ...)."""

    def __init__(self, model: str | Path | Mapping[str, bytes], top_k: int = 5, batch_size: int = 16,
                 decode_threads: int = 2, threshold: Any = None,
                 predictor_options: Mapping | None = None) -> None:
        from edgefashion.runtime.postprocess import resolve_thresholds
        from edgefashion.runtime.predictor import Predictor

        self._tmp = None
        if type(model).__name__ == "ObjectRef":  # the Ray engine ships the model file's bytes
            import ray

            model = ray.get(model)
        if isinstance(model, Mapping):
            model = self._unpack(model)
        self.predictor = Predictor(model, batch_size=batch_size, **dict(predictor_options or {}))
        self.top_k = int(top_k)
        self.threshold = threshold
        resolve_thresholds(self.predictor.schema, threshold)  # a bad threshold fails here, once
        self.pool = ThreadPoolExecutor(max(1, int(decode_threads)), thread_name_prefix="tag-decode")

    def _unpack(self, files: Mapping[str, bytes]) -> Path:
        self._tmp = tempfile.TemporaryDirectory(prefix="edgefashion-tag-")
        first = None
        for name, data in files.items():
            p = Path(self._tmp.name) / Path(name).name
            p.write_bytes(data)
            first = first or p
        return first

    def __call__(self, batch: Any):
        """A pyarrow.Table / pandas / dict batch with a ``path`` column -> a pyarrow.Table of rows."""
        return to_table(self.tag(_paths(batch)))

    def tag(self, paths: Sequence[str]) -> list[dict]:
        """Rows for ``paths``, in order, one per path."""
        bs = self.predictor.batch_size
        chunks = [list(paths[i:i + bs]) for i in range(0, len(paths), bs)]
        rows: list[dict] = []
        pending = self._submit(chunks[0]) if chunks else []
        for k, chunk in enumerate(chunks):
            prepared = [f.result() for f in pending]
            pending = self._submit(chunks[k + 1]) if k + 1 < len(chunks) else []
            rows.extend(self._infer(chunk, prepared))
        return rows

    def _submit(self, chunk: list[str]) -> list[Future]:
        return [self.pool.submit(self._prepare, p) for p in chunk]

    def _prepare(self, path: str):
        """Runs in a decode thread: -> (tensor (3, S, S), image shape), or the error for the row."""
        from edgefashion.runtime.images import load_image
        from edgefashion.runtime.preprocess import preprocess

        p = self.predictor
        try:
            img = load_image(read_source(path), p.max_pixels)
            return preprocess(img, p.preprocess_config), img.shape
        except EdgeFashionError as e:
            return e
        except Exception as e:  # noqa: BLE001 - I/O or fsspec errors: this image's row, not the job
            return ImageDecodeError(f"cannot read image {path!r}: {type(e).__name__}: {e}")

    def _infer(self, chunk: list[str], prepared: list) -> list[dict]:
        good = [j for j, r in enumerate(prepared) if not isinstance(r, BaseException)]
        rows: list[dict | None] = [None] * len(chunk)
        for j, r in enumerate(prepared):
            if isinstance(r, BaseException):
                rows[j] = error_row(chunk[j], r)
        if good:
            x = np.stack([prepared[j][0] for j in good])
            out = self.predictor.infer(x)
            preds = self.predictor.to_predictions(out, [chunk[j] for j in good],
                                                  [prepared[j][1] for j in good], None,
                                                  self.top_k, self.threshold)
            for j, pred in zip(good, preds):
                rows[j] = prediction_row(chunk[j], pred, self.top_k)
        return rows  # type: ignore[return-value]

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.predictor.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def model_files(model: str | Path) -> dict[str, bytes]:
    """The model file and the files that travel with it (TensorRT sidecar ``.engine.json``,
    OpenVINO ``.bin``, ONNX external data ``.onnx.data``), as {name: bytes}, model first."""
    p = Path(model)
    out = {p.name: p.read_bytes()}
    for extra in (p.with_name(p.name + ".json"), p.with_suffix(".bin"), p.with_name(p.name + ".data")):
        if extra.is_file() and extra != p:
            out[extra.name] = extra.read_bytes()
    return out


def _paths(batch: Any) -> list[str]:
    if hasattr(batch, "column"):  # pyarrow.Table
        return [str(v) for v in batch.column("path").to_pylist()]
    col = batch["path"]
    return [str(v) for v in (col.tolist() if hasattr(col, "tolist") else col)]


def default_threads(cpus: float) -> int:
    """ONNX Runtime intra-op threads for a worker granted ``cpus`` CPUs (at least 1)."""
    return max(1, min(int(round(cpus)), os.cpu_count() or 1))
