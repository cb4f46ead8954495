"""The output of ``tag``: a Parquet dataset folder written in parts, so a run can be resumed.

    OUT.parquet/
        _tag.json                      what made it (model, label names); a resume must match
        part-<run>-000000.parquet      one part per finished block of images
        ...

pandas.read_parquet / pyarrow.parquet.read_table / ray.data.read_parquet / DuckDB read the folder
as one table. Each part is written to a hidden temporary name and renamed into place (atomic on
one filesystem), so an interrupted run leaves only whole parts; the next run reads the ``path``
column of every part and tags only the paths not yet there. Within a run a path already written
is never written again, so retried blocks cannot duplicate rows.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterable

from edgefashion.errors import BadInput
from edgefashion.tag.rows import COLUMNS, pyarrow, schema

MANIFEST = "_tag.json"
PART_GLOB = "part-*.parquet"


class TagOutput:
    """An output folder: ``done`` (paths already tagged), ``write(table)`` (one atomic part)."""

    def __init__(self, path: str | Path, manifest: dict, overwrite: bool = False) -> None:
        self.path = Path(path).expanduser()
        if self.path.exists() and not self.path.is_dir():
            raise BadInput(f"output {str(self.path)!r} is a file; tag writes a Parquet dataset "
                           "folder (part files), so give a new name or a folder")
        if overwrite and self.path.is_dir():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._check_manifest(manifest)
        # Unique per run: two runs in one process and one second (a resume right after an
        # interruption) must not reuse part names, or the second would replace the first's parts.
        self.run = f"{time.strftime('%Y%m%d%H%M%S')}-{os.getpid():x}-{uuid.uuid4().hex[:8]}"
        self.seq = 0
        self.done: set[str] = self._read_done()
        self.rows_written = 0
        self.errors_written = 0

    def _check_manifest(self, manifest: dict) -> None:
        f = self.path / MANIFEST
        if f.is_file():
            old = json.loads(f.read_text())
            diff = [k for k in ("categories", "attributes") if old.get(k) != manifest.get(k)]
            if diff and self.parts():
                raise BadInput(f"output {str(self.path)!r} was written by another model ({old.get('model')!r}; "
                               f"its {' and '.join(diff)} differ); pass --overwrite to start again or "
                               "choose another output")
        f.write_text(json.dumps(manifest, indent=1))

    def parts(self) -> list[Path]:
        return sorted(self.path.glob(PART_GLOB))

    def _read_done(self) -> set[str]:
        import pyarrow.parquet as pq

        done: set[str] = set()
        for part in self.parts():
            done.update(pq.read_table(part, columns=["path"]).column("path").to_pylist())
        return done

    def todo(self, paths: Iterable[str]) -> list[str]:
        """The paths not yet in the output, in order."""
        return [p for p in paths if p not in self.done]

    def write(self, table) -> int:
        """Write the rows of ``table`` whose path is new as one part; -> rows written."""
        import pyarrow.parquet as pq

        pa = pyarrow()
        table = table.select(list(COLUMNS)).cast(schema())
        seen: set[str] = set()
        keep = []
        for p in table.column("path").to_pylist():  # new paths only, each once
            keep.append(p not in self.done and p not in seen)
            seen.add(p)
        if not all(keep):
            table = table.filter(pa.array(keep, pa.bool_()))
        if table.num_rows == 0:
            return 0
        name = f"part-{self.run}-{self.seq:06d}.parquet"
        while (self.path / name).exists():  # never replace a part another run wrote
            self.seq += 1
            name = f"part-{self.run}-{self.seq:06d}.parquet"
        tmp = self.path / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.path / name)  # atomic: a reader never sees half a part
        self.seq += 1
        self.done.update(table.column("path").to_pylist())
        self.rows_written += table.num_rows
        self.errors_written += table.num_rows - table.column("error").null_count
        return table.num_rows

    def cleanup(self) -> None:
        """Remove temporary files an interrupted run left behind."""
        for tmp in self.path.glob(".part-*.tmp"):
            tmp.unlink(missing_ok=True)


def read_output(path: str | Path):
    """The whole output folder as one pyarrow.Table (the parts in order)."""
    import pyarrow.parquet as pq

    pa = pyarrow()
    parts = sorted(Path(path).glob(PART_GLOB))
    if not parts:
        return schema().empty_table()
    return pa.concat_tables([pq.read_table(p, schema=schema()) for p in parts])
