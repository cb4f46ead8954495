"""Reader for folder-per-category datasets: ``root/<category>/<image>``."""
from __future__ import annotations

from pathlib import Path

from edgefashion.data.sample import SPLITS, Sample
from edgefashion.errors import BadInput, DatasetError
from edgefashion.labels import LabelSchema
from edgefashion.labels.deepfashion import IMAGE_SUFFIXES, list_category_folders


def read_folders(root: str | Path, schema: LabelSchema | None = None,
                 split: str | None = None) -> tuple[LabelSchema, list[Sample]]:
    """-> (schema, samples): one category per image sub-folder of ``root``, sorted by name.

    schema: reuse an existing schema (e.g. the training folder's for a validation folder) so that
    category indices match; a folder whose name is not one of its categories is a DatasetError.
    split: recorded on every sample ("train" / "val" / "test"), None when unknown.
    Images are the files directly inside each folder with an image suffix (hidden files skipped).
    """
    if split is not None and split not in SPLITS:
        raise BadInput(f"split {split!r} must be one of {', '.join(SPLITS)} or None")
    root = Path(root)
    folders = list_category_folders(root)
    if schema is None:
        schema = LabelSchema.from_folders(root)
    index = {name: i for i, name in enumerate(schema.category_names)}
    unknown = [d.name for d in folders if d.name not in index]
    if unknown:
        raise DatasetError(
            f"folder(s) {', '.join(repr(u) for u in unknown)} in {str(root)!r} are not categories of "
            f"the schema ({', '.join(schema.category_names)}); rename or remove them, or read this "
            "folder without schema="
        )
    samples = [
        Sample(f, index[d.name], split=split)
        for d in folders
        for f in sorted(d.iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file()
    ]
    return schema, samples
