"""What to tag: SOURCE -> the list of image paths, in a stable order.

- a folder: every image below it (recursive, image suffixes), sorted;
- a glob pattern (``photos/**/*.jpg``): the matching images, sorted;
- a list file (.txt / .lst / any other text): one path per line, relative to the file's folder
  unless absolute or a URL; blank lines and '#' comments skipped;
- a table (.parquet / .csv / .tsv): the ``path_column`` (default: the first of path, image, file,
  filename, url that exists), relative paths taken from the table's folder;
- any of these as an fsspec URL (s3://bucket/photos/, gs://..., https://.../list.txt) when fsspec
  and the filesystem's package are installed.

Missing files in a list or table are kept: they become rows with an error, not a failed job.
Duplicates are dropped (the first stays): a path is the key that resume uses.
"""
from __future__ import annotations

import os
from pathlib import Path

from edgefashion.errors import BadInput, DatasetError
from edgefashion.tag.worker import is_url

PATH_COLUMNS = ("path", "image", "file", "filename", "url")
TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv")


def list_images(source: str | Path, path_column: str | None = None) -> list[str]:
    """SOURCE (see the module doc) -> unique image paths; DatasetError when nothing is found."""
    src = str(source)
    if is_url(src):
        paths = _from_url(src, path_column)
    else:
        paths = _from_local(src, path_column)
    out = list(dict.fromkeys(paths))
    if not out:
        raise DatasetError(f"no images found in {src!r}; pass a folder, a glob, a list file or a "
                           "Parquet / CSV table with a path column")
    return out


def _from_local(src: str, path_column: str | None) -> list[str]:
    from edgefashion.data.imagelist import GLOB_CHARS, read_image_list

    p = Path(src).expanduser()
    if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES:
        return _resolve(_read_table(str(p), path_column), str(p.parent))
    if p.is_file() and not _is_image(p.name):
        return _resolve(_lines(p.read_text(encoding="utf-8", errors="replace")), str(p.parent))
    if p.is_dir() or p.is_file() or any(c in src for c in GLOB_CHARS):
        return [os.path.abspath(q) for q in read_image_list(p if p.exists() else src)]
    raise DatasetError(f"source {src!r} does not exist; pass a folder, a glob pattern, a list file "
                       "or a Parquet / CSV table with a path column")


def _from_url(src: str, path_column: str | None) -> list[str]:
    try:
        import fsspec
    except ImportError as e:
        from edgefashion.errors import BackendUnavailable

        raise BackendUnavailable(f"source {src!r} is a URL and reading it needs fsspec: pip install "
                                 "fsspec (plus s3fs / gcsfs / adlfs for the cloud stores)") from e
    try:
        fs, root = fsspec.core.url_to_fs(src)
    except ImportError as e:  # the filesystem's own package (s3fs, gcsfs, ...) is missing
        from edgefashion.errors import BackendUnavailable

        raise BackendUnavailable(f"source {src!r}: {e}") from e
    except ValueError as e:  # fsspec knows no such protocol
        raise BadInput(f"source {src!r}: {e}; fsspec reads s3://, gs://, az://, https://, ...") from e
    base = src.rsplit("/", 1)[0]
    if not any(c in root for c in "*?[") and not fs.exists(root):
        raise DatasetError(f"source {src!r} does not exist")
    if src.lower().endswith(TABLE_SUFFIXES):
        return _resolve(_read_table(src, path_column), base)
    if any(c in root for c in "*?["):
        found = fs.glob(root)
    elif fs.isdir(root):
        found = fs.find(root)
    else:
        with fsspec.open(src, "rt", encoding="utf-8") as f:
            return _resolve(_lines(f.read()), base)
    return sorted(fs.unstrip_protocol(f) for f in found if _is_image(f))


def _read_table(src: str, path_column: str | None) -> list[str]:
    from edgefashion.tag.rows import pyarrow

    pyarrow()
    if src.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        table = pq.read_table(src)
    else:
        import pyarrow.csv as pcsv

        delim = "\t" if src.lower().endswith(".tsv") else ","
        opts = pcsv.ParseOptions(delimiter=delim)
        if is_url(src):
            import fsspec

            with fsspec.open(src, "rb") as f:
                table = pcsv.read_csv(f, parse_options=opts)
        else:
            table = pcsv.read_csv(src, parse_options=opts)
    names = table.column_names
    col = path_column or next((c for c in PATH_COLUMNS if c in names), None)
    if col not in names:
        raise BadInput(f"table {src!r} has no path column {path_column or 'path'!r} (its columns: "
                       f"{names}); name it with --path-column")
    return [str(v) for v in table.column(col).to_pylist() if v is not None and str(v).strip()]


def _lines(text: str) -> list[str]:
    return [s.strip() for s in text.splitlines() if s.strip() and not s.strip().startswith("#")]


def _resolve(entries: list[str], base: str) -> list[str]:
    """Relative entries are taken from ``base`` (the list's / table's folder)."""
    out = []
    for e in entries:
        if is_url(e) or e.startswith("file://"):
            out.append(e)
        elif is_url(base):
            out.append(e if e.startswith("/") else f"{base}/{e}")
        else:
            p = Path(e).expanduser()
            out.append(os.path.abspath(p if p.is_absolute() else Path(base) / p))
    return out


def _is_image(name: str) -> bool:
    from edgefashion.labels.deepfashion import IMAGE_SUFFIXES

    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and os.path.splitext(base)[1].lower() in IMAGE_SUFFIXES
