"""read_deepfashion on hand-written DeepFashion-C lists (incl. malformed ones) and real label lists."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_helpers import TINY, write_tree

from edgefashion.data import read_deepfashion
from edgefashion.data.sample import ABSENT, LANDMARK_NAMES, OCCLUDED, TRUNCATED, VISIBLE
from edgefashion.errors import BadInput, DatasetError

BLOUSE1 = "img/Sheer_Pleated-Front_Blouse/img_00000001.jpg"


def _edit(root: Path, rel: str, old: str, new: str) -> Path:
    p = root / rel
    text = p.read_text()
    assert old in text, f"test setup: {old!r} not in {rel}"
    p.write_text(text.replace(old, new, 1))
    return p


def test_reads_every_list(tiny):
    schema, samples = read_deepfashion(tiny)
    assert schema.category_names == ["Blouse", "Jeans", "Dress"]
    assert [c.type for c in schema.categories] == ["upper", "lower", "full"]
    assert schema.attribute_names == ["floral", "abstract chevron print", "denim", "crew neck"]
    assert schema.groups == ("texture", "fabric", "part")
    assert [s.category for s in samples] == [0, 0, 1, 2]
    assert [s.split for s in samples] == ["train", "val", "train", "test"]
    assert samples[0].path == tiny / BLOUSE1
    assert samples[0].bbox == (72, 79, 232, 273)
    assert samples[0].attributes.tolist() == [1, -1, -1, 1]
    assert samples[1].attributes.tolist() == [-1, 0, -1, 0]   # 0 = unknown is kept
    assert samples[1].attributes.dtype == np.int8


def test_landmarks_go_to_their_slots(tiny):
    _, (blouse, padded, jeans, dress) = read_deepfashion(tiny)
    slot = {n: i for i, n in enumerate(LANDMARK_NAMES)}
    # upper body: collar, sleeve, hem -> slots 0-3, 6-7; no waist
    assert blouse.landmarks[slot["hem_right"]].tolist() == [177, 232, TRUNCATED]
    assert blouse.landmarks[slot["sleeve_right"]].tolist() == [205, 255, OCCLUDED]
    assert blouse.landmarks[slot["collar_left"]].tolist() == [146, 102, VISIBLE]
    assert (blouse.landmarks[[slot["waist_left"], slot["waist_right"]], 2] == ABSENT).all()
    # 8 triples for an upper garment whose last two are zero padding: same mapping
    assert padded.landmarks[slot["hem_left"]].tolist() == [90, 150, VISIBLE]
    assert padded.landmarks[slot["waist_left"], 2] == ABSENT
    # lower body: waist, hem -> slots 4-7
    assert jeans.landmarks[slot["waist_left"]].tolist() == [30, 25, VISIBLE]
    assert (jeans.landmarks[:4, 2] == ABSENT).all()
    # full body: all 8 in order
    assert (dress.landmarks[:, 2] == VISIBLE).all()
    assert dress.landmarks[slot["waist_right"], :2].tolist() == [190, 120]


@pytest.mark.parametrize("split, n", [("train", 2), ("val", 1), ("test", 1), (None, 4)])
def test_split_selects_rows(tiny, split, n):
    _, samples = read_deepfashion(tiny, split=split)
    assert len(samples) == n
    assert all(s.split == (split or s.split) for s in samples)


def test_files_without_count_line_and_anno_coarse_dir(tiny):
    for p in list((tiny / "Anno").iterdir()) + [tiny / "Eval/list_eval_partition.txt"]:
        p.write_text(p.read_text().split("\n", 1)[1])  # drop the count line
    (tiny / "Anno").rename(tiny / "Anno_coarse")
    schema, samples = read_deepfashion(tiny, split="train")
    assert schema.num_attributes == 4
    assert [s.path.name for s in samples] == ["img_00000001.jpg", "img_00000001.jpg"]
    assert samples[1].attributes.tolist() == [-1, -1, 1, -1]


def test_missing_partition_file(tiny):
    (tiny / "Eval/list_eval_partition.txt").unlink()
    with pytest.raises(DatasetError, match="list_eval_partition.txt does not exist"):
        read_deepfashion(tiny, split="train")
    _, samples = read_deepfashion(tiny)  # all images, split unknown
    assert len(samples) == 4 and {s.split for s in samples} == {None}


def test_optional_lists_may_be_absent(tiny):
    for name in ("list_attr_img.txt", "list_bbox.txt", "list_landmarks.txt"):
        (tiny / "Anno" / name).unlink()
    schema, samples = read_deepfashion(tiny)
    assert schema.num_attributes == 4
    assert all(s.attributes is None and s.bbox is None and s.landmarks is None for s in samples)


BAD_ROWS = [
    ("Anno/list_category_img.txt", "jpg                                 3", "jpg 51",
     "category id 51 is out of range.*1..3"),
    ("Anno/list_category_img.txt", "jpg                                 3", "jpg 0",
     "category id 0 is out of range"),
    ("Anno/list_category_img.txt", "jpg                                 3", "jpg three",
     "category id 'three' is not an integer"),
    ("Anno/list_attr_img.txt", "1 -1 -1 -1\n", "1 -1 -1\n",
     r"expected 4 attribute labels \(one per .*\), found 3"),
    ("Anno/list_attr_img.txt", "1 -1 -1 -1\n", "1 -1 2 -1\n", "attribute 3 has label 2"),
    ("Anno/list_attr_img.txt", "1 -1 -1 -1\n", "1 -1 x -1\n", "label 'x' is not an integer"),
    ("Anno/list_bbox.txt", "050 005 250 300", "250 005 050 300", "is not a box"),
    ("Anno/list_bbox.txt", "050 005 250 300", "050 005 250", "expected 4 bbox values, found 3"),
    ("Anno/list_landmarks.txt", "jpg  3  1  0 120", "jpg  5  1  0 120", "clothes_type 5"),
    ("Anno/list_landmarks.txt", "  0 070 290  0 230 290", "",
     "clothes_type 3 has 8 landmarks, the row has 6"),
    ("Anno/list_landmarks.txt", "  0 070 290  0 230 290", "  0 070 290  7 230 290", "visibility"),
    ("Anno/list_landmarks.txt", "  0 070 290  0 230 290", "  0 070 290  0 230", "triples"),
    ("Eval/list_eval_partition.txt", "  test", "  testing", "evaluation_status 'testing'"),
]


@pytest.mark.parametrize("rel, old, new, message", BAD_ROWS)
def test_malformed_row_names_file_and_line(tiny, rel, old, new, message):
    _edit(tiny, rel, old, new)
    with pytest.raises(DatasetError, match=message) as info:
        read_deepfashion(tiny)
    assert re.search(re.escape(str(tiny / rel)) + r":6\b", str(info.value)), str(info.value)


def test_count_line_disagreeing_with_rows(tiny):
    _edit(tiny, "Anno/list_bbox.txt", "4\n", "5\n")
    with pytest.raises(DatasetError, match="count line says 5 rows but the file has 4"):
        read_deepfashion(tiny)


def test_duplicate_image(tiny):
    p = tiny / "Anno/list_category_img.txt"
    p.write_text(p.read_text().replace("4\n", "5\n", 1) + f"{BLOUSE1}  2\n")
    with pytest.raises(DatasetError, match=r"list_category_img.txt:7: image .* listed twice"):
        read_deepfashion(tiny)


def test_missing_files_and_folders(tmp_path, tiny):
    with pytest.raises(DatasetError, match="does not exist"):
        read_deepfashion(tmp_path / "nope")
    with pytest.raises(DatasetError, match="not a DeepFashion-C folder"):
        read_deepfashion(tmp_path)
    (tiny / "Anno/list_attr_cloth.txt").unlink()
    with pytest.raises(DatasetError, match="list_attr_img.txt exists but .*list_attr_cloth.txt does not"):
        read_deepfashion(tiny)
    (tiny / "Anno/list_category_cloth.txt").unlink()
    with pytest.raises(DatasetError, match="category list .*list_category_cloth.txt"):
        read_deepfashion(tiny)


def test_bad_split_argument(tiny):
    with pytest.raises(BadInput, match="split 'validation'"):
        read_deepfashion(tiny, split="validation")


def test_images_under_img_folder_and_check_images(tiny):
    names = [ln.split()[0] for ln in TINY["Anno/list_category_img.txt"].splitlines()[2:]]
    with pytest.raises(DatasetError, match="4 of 4 images listed in .* do not exist"):
        read_deepfashion(tiny, check_images=True)
    for n in names:  # the release's zip unpacks to root/Img/img/...
        (tiny / "Img" / n).parent.mkdir(parents=True, exist_ok=True)
        (tiny / "Img" / n).write_bytes(b"x")
    _, samples = read_deepfashion(tiny, check_images=True)
    assert samples[0].path == tiny / "Img" / BLOUSE1


def test_real_deepfashion_label_lists(tmp_path, deepfashion_meta):
    """The real 50-category / 1000-attribute lists with release-style rows."""
    anno = tmp_path / "Anno_coarse"
    anno.mkdir()
    for name in ("list_category_cloth.txt", "list_attr_cloth.txt"):
        shutil.copy(deepfashion_meta / "Anno_coarse" / name, anno / name)
    rng = np.random.default_rng(0)
    labels = rng.choice([-1, -1, -1, 1, 0], size=(3, 1000))
    names = [f"img/Abstract_Print_Dress/img_{i:08d}.jpg" for i in range(1, 4)]
    write_tree(tmp_path, {
        "Anno_coarse/list_category_img.txt": "3\nimage_name  category_label\n"
        + "".join(f"{n}  {c}\n" for n, c in zip(names, (41, 3, 18))),
        "Anno_coarse/list_attr_img.txt": "3\nimage_name  attribute_labels\n"
        + "".join(f"{n} " + " ".join(map(str, row)) + "\n" for n, row in zip(names, labels)),
    })
    schema, samples = read_deepfashion(tmp_path)
    assert schema.num_categories == 50 and schema.num_attributes == 1000
    assert schema.groups == ("texture", "fabric", "shape", "part", "style")
    assert [schema.category_names[s.category] for s in samples] == ["Dress", "Blouse", "Tee"]
    np.testing.assert_array_equal(np.stack([s.attributes for s in samples]), labels)


def test_schema_override_must_match_lists(synth_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(synth_root / "Anno", root / "Anno")
    schema, _ = read_deepfashion(root)
    assert schema.groups == ("texture", "colour", "sleeve", "neckline", "part")  # from the JSON
    _edit(root, "Anno/list_attr_cloth.txt", "plain", "solid")
    with pytest.raises(DatasetError, match="edgefashion_schema.json does not match"):
        read_deepfashion(root)
