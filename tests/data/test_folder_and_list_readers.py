"""read_folders (folder per category) and read_image_list (calibration / evaluation lists)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from edgefashion.data import read_folders, read_image_list
from edgefashion.errors import BadInput, DatasetError

CLOTHING_CATEGORIES = ["dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes", "shorts",
                       "skirt", "t-shirt"]


def _touch(root: Path, *rels: str) -> Path:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"not decoded by the readers")
    return root


# ---------------------------------------------------------------------- read_folders
def test_clothing_small_train_and_validation(clothing_small):
    schema, train = read_folders(clothing_small / "train", split="train")
    assert schema.category_names == CLOTHING_CATEGORIES
    assert len(train) == 3068 and schema.num_categories == 10
    assert all(s.path.parent.name == schema.category_names[s.category] for s in train)
    assert all(s.attributes is None and s.bbox is None and s.split == "train" for s in train)
    counts = Counter(s.category for s in train)
    assert len(counts) == 10 and min(counts.values()) > 50
    _, val = read_folders(clothing_small / "validation", schema=schema)
    assert len(val) == 341
    assert all(s.path.parent.name == schema.category_names[s.category] for s in val)


def test_schema_reuse_keeps_indices_and_rejects_unknown_folders(tmp_path):
    _touch(tmp_path, "train/b/1.jpg", "train/a/1.png", "train/c/1.JPG", "val/c/x.jpg", "val/a/y.jpg")
    schema, train = read_folders(tmp_path / "train")
    assert schema.category_names == ["a", "b", "c"]
    _, val = read_folders(tmp_path / "val", schema=schema)
    assert [(s.path.name, s.category) for s in val] == [("y.jpg", 0), ("x.jpg", 2)]
    _touch(tmp_path, "val/zebra/z.jpg")
    with pytest.raises(DatasetError, match=r"'zebra' .* not categories of the schema \(a, b, c\)"):
        read_folders(tmp_path / "val", schema=schema)


def test_folders_skip_non_images_and_hidden_files(tmp_path):
    _touch(tmp_path, "tee/a.jpg", "tee/.b.jpg", "tee/notes.txt", "tee/sub/c.jpg", "empty/readme.md")
    schema, samples = read_folders(tmp_path)
    assert schema.category_names == ["tee"]            # a folder without images is not a category
    assert [s.path.name for s in samples] == ["a.jpg"]


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_folders(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no sub-folders with images"):
        read_folders(_touch(tmp_path, "loose.jpg"))
    with pytest.raises(BadInput, match="split 'training'"):
        read_folders(tmp_path, split="training")


# ---------------------------------------------------------------------- read_image_list
def test_directory_is_recursive_sorted_and_filtered(tmp_path):
    _touch(tmp_path, "b/2.jpg", "a/1.PNG", "a/deep/3.webp", "a/.hidden.jpg", "a/list.txt", "z.bmp")
    got = read_image_list(tmp_path)
    rel = [p.relative_to(tmp_path).as_posix() for p in got]
    assert rel == ["a/1.PNG", "a/deep/3.webp", "b/2.jpg", "z.bmp"]


def test_list_file_relative_absolute_comments(tmp_path):
    _touch(tmp_path, "imgs/a.jpg", "imgs/b.jpg", "other/c.png")
    lst = tmp_path / "imgs" / "calib.txt"
    lst.write_text(f"# calibration set\n\nb.jpg\n  a.jpg  \n{tmp_path / 'other/c.png'}\n../other/c.png\n")
    got = read_image_list(lst)
    assert got == [tmp_path / "imgs/b.jpg", tmp_path / "imgs/a.jpg", tmp_path / "other/c.png",
                   tmp_path / "imgs/../other/c.png"]


def test_list_file_missing_entries_name_the_line(tmp_path):
    _touch(tmp_path, "a.jpg")
    lst = tmp_path / "list.txt"
    lst.write_text("a.jpg\n# comment\nnope.jpg\n")
    with pytest.raises(DatasetError, match=r"1 listed image\(s\) do not exist \(line 3: .*nope.jpg"):
        read_image_list(lst)


def test_glob_and_single_image(tmp_path):
    _touch(tmp_path, "x/1.jpg", "x/y/2.jpg", "x/3.png", "x/4.txt")
    assert [p.name for p in read_image_list(str(tmp_path / "x" / "**" / "*.jpg"))] == ["1.jpg", "2.jpg"]
    assert read_image_list(tmp_path / "x/3.png") == [tmp_path / "x/3.png"]


def test_image_list_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_image_list(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no images found in folder"):
        read_image_list(_touch(tmp_path / "empty", "readme.txt"))
    with pytest.raises(DatasetError, match="no images found in glob pattern"):
        read_image_list(str(tmp_path / "*.jpg"))
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(DatasetError, match="no images found in list file"):
        read_image_list(empty)


def test_real_photos_folder(clothing_small):
    got = read_image_list(clothing_small / "validation")
    assert len(got) == 341 and got == sorted(got)
