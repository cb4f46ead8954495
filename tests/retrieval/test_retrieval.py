"""Index / search / mAP on real product photos with a tiny exported m2fashion, API and CLI."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from edgefashion.cli.main import main
from edgefashion.errors import BadInput
from edgefashion.export.onnx import check_inputs_from_images, export_onnx
from edgefashion.models import create_model, get_model_class
from edgefashion.retrieval import (RetrievalIndex, average_precision, build_index, cosine_topk,
                                   evaluate_index, mean_average_precision, search_image)
from edgefashion.runtime.predictor import Predictor
from edgefashion.runtime.preprocess import PreprocessConfig
from tests.conftest import data_dir, fashion_product_subset
from tests.runtime.runtime_helpers import lsuv_

N_IMAGES = 40


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    """A Fashion Product folder (styles.csv + images/) with the first N_IMAGES rows of the real one."""
    return fashion_product_subset(tmp_path_factory.mktemp("products"), N_IMAGES)


@pytest.fixture(scope="module")
def m2_model(products, tmp_path_factory):
    """A tiny m2fashion in the full fashion-product schema, LSUV-scaled so embeddings vary."""
    from edgefashion.data.fashion_product import read_fashion_product

    schema, _ = read_fashion_product(data_dir("fashion-product-small"))
    _, samples = read_fashion_product(products, schema=schema)
    torch.manual_seed(0)
    model = create_model("m2fashion", schema.num_categories, schema.num_attributes,
                         **get_model_class("m2fashion").tiny_config).eval()
    prep = PreprocessConfig(input_size=64)
    x = check_inputs_from_images([s.path for s in samples[:8]], prep)
    lsuv_(model, torch.from_numpy(x))
    path = tmp_path_factory.mktemp("m2") / "m2.onnx"
    export_onnx(model, schema, prep, path, check_inputs=x)
    return path, schema, samples


@pytest.fixture(scope="module")
def index(m2_model):
    from edgefashion.data.sample import attribute_matrix

    path, schema, samples = m2_model
    p = Predictor(path, threads=1)
    return build_index(p, [s.path for s in samples], ["usage=Casual", "baseColour"],
                       np.asarray([s.category for s in samples]),
                       attribute_matrix(samples, schema.num_attributes), meta={"model": str(path)})


@pytest.mark.needs_data
def test_a_query_is_its_own_top1(index, m2_model, tmp_path):
    path, schema, samples = m2_model
    assert len(index) == N_IMAGES and set(index.conditions) == {"usage=Casual", "baseColour"}
    for emb in index.embeddings.values():
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(index.embeddings[""], index.embeddings["baseColour"])
    p = Predictor(path, threads=1)
    for query in (samples[3].path, samples[6].path):
        for cond in (None, "usage=Casual", "baseColour"):
            hits = search_image(p, index, str(query), k=5, condition=cond)
            assert len(hits) == 5 and hits[0].path == str(query), cond
            if cond != "baseColour":  # a group: the index used the true colour, the query its predicted one
                assert hits[0].score == pytest.approx(1.0, abs=1e-4)
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
            assert hits[0].labels["labels"] == "true" and hits[0].labels["category"] in schema.category_names
    loaded = RetrievalIndex.load(index.save(tmp_path / "i.npz"))
    assert loaded.paths == index.paths and loaded.conditions == index.conditions
    np.testing.assert_array_equal(loaded.attributes, index.attributes)
    assert loaded.describe(0) == index.describe(0) and loaded.meta["model"] == str(path)


@pytest.mark.needs_data
def test_map_over_the_index_is_in_range(index):
    for cond in (None, "usage=Casual", "baseColour"):
        rep = evaluate_index(index, cond)
        assert 0.0 <= rep["map"] <= 1.0 and rep["queries"] > 0 and rep["images"] == N_IMAGES
    with pytest.raises(BadInput, match="no embeddings for 'season'"):
        evaluate_index(index, "season")


def test_map_by_hand_and_against_the_per_query_definition():
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], bool)
    assert mean_average_precision(emb, labels) == (1.0, 4)
    swapped = emb[[0, 2, 1, 3]]  # each image's nearest neighbour now has the other label
    assert mean_average_precision(swapped, labels)[0] == pytest.approx((1 / 3 + 1 / 3 + 1 / 2 + 1 / 2) / 4)
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([0, 1, 1])) == pytest.approx((1 / 2 + 2 / 3) / 2)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(30, 8)).astype(np.float32)
    cats = rng.integers(0, 4, 30)
    lab = cats[:, None] == np.arange(4)[None, :]
    z = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    aps = [average_precision(np.delete(z @ z[i], i), np.delete(cats == cats[i], i)) for i in range(30)]
    got, n = mean_average_precision(emb, lab, chunk=7)
    assert n == 30 and got == pytest.approx(np.nanmean(aps), rel=1e-6)


def test_cosine_topk():
    idx, sc = cosine_topk(np.array([1.0, 0]), np.array([[0, 1.0], [2, 0], [1, 1]]), k=5)
    assert idx.tolist() == [[1, 2, 0]] and sc[0, 0] == pytest.approx(1.0)
    with pytest.raises(BadInput, match="k=0"):
        cosine_topk(np.ones(2), np.ones((3, 2)), 0)
    with pytest.raises(BadInput, match="3 dimensions, the index 2"):
        cosine_topk(np.ones(3), np.ones((3, 2)), 1)


@pytest.mark.needs_data
def test_cli_index_search_and_evaluate(m2_model, products, tmp_path, capsys):
    path, _, samples = m2_model
    out = tmp_path / "idx.npz"
    assert main(["index", str(products), "-o", str(out), "--model", str(path),
                 "--attribute", "baseColour"]) == 0
    assert f"{N_IMAGES} images" in capsys.readouterr().out
    query = str(samples[5].path)
    assert main(["search", str(out), query, "--attribute", "baseColour", "-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["rank", "score", "image"] and len(lines) == 2 + 3
    assert lines[2].split()[2] == query and "baseColour=" in lines[2]
    assert main(["search", str(out), query, "--format", "json", "-k", "2"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["path"] == query and hits[0]["labels"] == "true"
    assert main(["search", str(out), "--evaluate", "--attribute", "baseColour", "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert 0 <= rep["map"] <= 1 and rep["relevance"] == "same 'baseColour' value"
    assert main(["search", str(out), query, "--attribute", "season"]) == 2
    assert "rebuild it with `edgefashion index" in capsys.readouterr().err


@pytest.mark.needs_data
def test_cli_index_of_category_folders_and_models_without_known(real_photos, tmp_path, capsys):
    """clothing-small style folders give true categories; a model without "known" cannot condition."""
    from edgefashion.labels import LabelSchema

    folders = tmp_path / "photos"
    for p in real_photos[:6]:
        (folders / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, folders / p.parent.name)
    schema = LabelSchema.simple(sorted({p.parent.name for p in real_photos}), {"texture": ["a", "b"]})
    torch.manual_seed(0)
    model = create_model("multibranch", schema.num_categories, 2,
                         **get_model_class("multibranch").tiny_config).eval()
    prep = PreprocessConfig(input_size=64)
    onnx_path = tmp_path / "mb.onnx"
    export_onnx(model, schema, prep, onnx_path)
    out = tmp_path / "idx.npz"
    assert main(["index", str(folders), "-o", str(out), "--model", str(onnx_path)]) == 0
    assert "labels: true category (folders)" in capsys.readouterr().out
    index = RetrievalIndex.load(out)
    assert sorted(schema.category_names[c] for c in index.categories) == sorted(
        p.parent.name for p in real_photos[:6])
    assert main(["index", str(folders), "-o", str(out), "--model", str(onnx_path),
                 "--attribute", "a"]) == 2
    assert "need a model with a 'known' input" in capsys.readouterr().err
