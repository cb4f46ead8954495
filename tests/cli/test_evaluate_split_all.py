"""`evaluate --split all` scores a separate test folder whole (issue 21, item 6): fashion-product
folders (styles.csv has no split column), fine-attr folders with only split/test.txt, folders."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from edgefashion.data.splits import detect_layout, load_split, resolve_split
from edgefashion.cli.main import main
from edgefashion.data import read_fashion_product, read_fine_attr
from edgefashion.models import create_model, get_model_class, save_checkpoint
from edgefashion.runtime.preprocess import PreprocessConfig
from tests.conftest import data_dir, fashion_product_subset

N_ROWS = 12


def tiny_checkpoint(path, schema):
    """An untrained tiny MSFAN whose heads match ``schema``."""
    torch.manual_seed(0)
    model = create_model("msfan", schema.num_categories, schema.num_attributes,
                         **get_model_class("msfan").tiny_config).eval()
    return save_checkpoint(path, model, schema, PreprocessConfig(input_size=64))


def evaluate(capsys, ckpt, data, out, *split):
    capsys.readouterr()
    assert main(["evaluate", str(ckpt), "--data", str(data), *split, "-o", str(out),
                 "--threads", "1", "--batch-size", "8"]) == 0
    return json.loads((out / "report.json").read_text()), capsys.readouterr().out


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def product_test(tmp_path_factory):
    """A separate fashion-product test folder: the first N_ROWS rows of the real one, and a model
    in the full set's schema."""
    src = data_dir("fashion-product-small")
    dst = fashion_product_subset(tmp_path_factory.mktemp("product_test"), N_ROWS)
    schema, _ = read_fashion_product(src)
    return dst, tiny_checkpoint(dst.parent / "product.pt", schema), schema


def test_fashion_product_split_all_scores_every_row(product_test, tmp_path, capsys):
    data, ckpt, schema = product_test
    assert len(load_split(data, "val", schema=schema)[1]) < N_ROWS  # the seeded split drops rows
    rep, out = evaluate(capsys, ckpt, data, tmp_path / "eval", "--split", "all")
    assert rep["num_images"] == N_ROWS and rep["split"] == "all"
    assert f"scored {N_ROWS} images (split all) of {data}" in out


def test_fashion_product_split_test_reads_every_row_with_a_note(product_test, tmp_path, capsys):
    data, ckpt, _ = product_test
    rep, out = evaluate(capsys, ckpt, data, tmp_path / "eval", "--split", "test")
    assert rep["num_images"] == N_ROWS and rep["split"] == "all"
    assert "note:" in out and "no split column" in out and "--split all" in out


@pytest.fixture(scope="module")
def fine_attr_test(tmp_path_factory):
    """A fine-attr test folder: split/test.txt, test_attr.txt, test_bbox.txt and img/ (no train.txt),
    made from the first rows of the real val split."""
    src = data_dir("deepfashion-fine-attr")
    dst = tmp_path_factory.mktemp("fine_attr_test")
    (dst / "split").mkdir()
    (dst / "img").mkdir()
    shutil.copy(src / "split" / "list_attr_cloth.txt", dst / "split")
    for part in ("", "_attr", "_bbox"):
        lines = (src / "split" / f"val{part}.txt").read_text().splitlines()[:N_ROWS]
        (dst / "split" / f"test{part}.txt").write_text("\n".join(lines) + "\n")
    for name in (dst / "split" / "test.txt").read_text().split():
        shutil.copy(src / name, dst / name)
    return dst


def test_fine_attr_folder_with_only_a_test_split_is_detected_and_read_whole(fine_attr_test):
    assert detect_layout(fine_attr_test) == "fine_attr"
    assert resolve_split(fine_attr_test, None) == "all"
    _, samples = load_split(fine_attr_test, None)
    assert len(samples) == N_ROWS and all(s.bbox and s.split == "test" for s in samples)


def test_evaluate_default_split_scores_a_test_only_fine_attr_folder(fine_attr_test, tmp_path, capsys):
    schema, _ = read_fine_attr(fine_attr_test, "test")
    ckpt = tiny_checkpoint(tmp_path / "fine.pt", schema)
    rep, out = evaluate(capsys, ckpt, fine_attr_test, tmp_path / "eval")
    assert rep["num_images"] == N_ROWS and rep["split"] == "all"
    assert f"scored {N_ROWS} images (split all) of {fine_attr_test}" in out


def _images(root, names):
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).write_bytes(b"listed, not decoded")
    return root


def test_folders_split_all_reads_every_split_folder(tmp_path):
    root = _images(tmp_path / "ds", ["train/hat/1.jpg", "train/shirt/2.jpg", "validation/hat/3.jpg",
                                     "test/shirt/4.jpg", "test/shirt/5.jpg"])
    assert resolve_split(root, None) == "val"  # it has a training part
    schema, samples = load_split(root, "all")
    assert list(schema.category_names) == ["hat", "shirt"]
    assert [(s.path.name, s.split) for s in samples] == [
        ("1.jpg", "train"), ("2.jpg", "train"), ("3.jpg", "val"), ("4.jpg", "test"), ("5.jpg", "test")]


def test_folders_without_a_training_part_default_to_all(tmp_path):
    root = _images(tmp_path / "ds", ["hat/1.jpg", "shirt/2.jpg", "shirt/3.jpg"])
    assert detect_layout(root) == "folders" and resolve_split(root, None) == "all"
    assert len(load_split(root, None)[1]) == 3
