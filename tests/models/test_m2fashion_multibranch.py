"""m2fashion (known attribute states, label masking, triplet loss) and multibranch (per-group
branches, masked multi-task BCE), the Fashion Product reader and the Jaccard metric."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefashion.errors import BadInput, DatasetError, UnknownName
from edgefashion.export.onnx import check_inputs_from_images, export_onnx
from edgefashion.labels import Attribute, Category, LabelSchema
from edgefashion.models import create_model, get_model_class, load_checkpoint, save_checkpoint
from edgefashion.models.m2fashion import M2FashionLoss, triplet_loss, triplet_masks
from edgefashion.models.multibranch import MaskedMultiTaskLoss, MultiBranch
from edgefashion.runtime.predictor import Predictor
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training.metrics import average_jaccard
from tests.conftest import data_dir
from tests.utils import TOLERANCES

ATTRS = {"texture": ["plain", "striped", "floral"], "sleeve": ["short", "long"]}


def tiny(name: str, nc: int = 4, na: int = 5, **kw):
    torch.manual_seed(0)
    return create_model(name, nc, na, **{**get_model_class(name).tiny_config, **kw}).eval()


# ---------------------------------------------------------------------------- m2fashion
def test_known_states_change_the_outputs_and_zeros_are_neutral():
    model = tiny("m2fashion")
    x = torch.randn(2, 3, 64, 64)
    known = torch.tensor([[1.0, -1, 0, 0, 1], [0, 0, 1, -1, 0]])
    with torch.no_grad():
        plain, zeros, given = model(x), model(x, torch.zeros(2, 5)), model(x, known)
    for k in model.output_names:
        torch.testing.assert_close(plain[k], zeros[k])  # zeros = nothing known = the default
    for k in ("attribute_logits", "embedding", "attention"):
        assert (given[k] - plain[k]).abs().max() > 1e-5, k
    assert model.input_names == ["image", "known"]
    assert set(model.example_inputs(3)) == {"image", "known"}
    torch.testing.assert_close(given["embedding"].norm(dim=1), torch.ones(2))
    att = given["attention"]
    assert att.shape == (2, 1, 2, 2) and torch.allclose(att.amax(dim=(2, 3)), torch.ones(2, 1))
    with pytest.raises(BadInput, match=r"known must be \(N, 5\)"):
        model(x, torch.zeros(2, 4))


def test_no_attributes_means_no_known_input():
    model = tiny("m2fashion", na=0)
    assert model.input_names == ["image"] and "known" not in model.example_inputs(1)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out["attribute_logits"].shape == (1, 0)


@pytest.mark.parametrize("cfg, outputs", [
    (dict(spatial_attention=False), ["category_logits", "attribute_logits", "embedding"]),
    (dict(channel_attention=False), ["category_logits", "attribute_logits", "attention", "embedding"]),
    (dict(pooling="gap"), ["category_logits", "attribute_logits", "attention", "embedding"]),
])
def test_m2fashion_ablations(cfg, outputs):
    model = tiny("m2fashion", **cfg)
    assert model.output_names == outputs
    with torch.no_grad():
        assert list(model(torch.randn(1, 3, 64, 64))) == outputs


@pytest.fixture(scope="module")
def m2_onnx(real_photos, tmp_path_factory):
    schema = LabelSchema.simple(sorted({p.parent.name for p in real_photos}), ATTRS)
    model = tiny("m2fashion", schema.num_categories, schema.num_attributes)
    prep = PreprocessConfig(input_size=64)
    path = tmp_path_factory.mktemp("m2") / "m2.onnx"
    export_onnx(model, schema, prep, path, check_inputs=check_inputs_from_images(real_photos[:4], prep))
    return model, schema, prep, path


def test_predictor_known_goes_through_onnx(m2_onnx, real_photos):
    model, schema, prep, path = m2_onnx
    p = Predictor(path, threads=1)
    photos = [str(f) for f in real_photos[:2]]
    plain = p(photos)
    floral = p(photos, known={"floral": True, "plain": False})
    per_image = p(photos, known=[{"floral": True, "plain": False}, None])
    x = check_inputs_from_images(real_photos[:2], prep)
    known = torch.zeros(2, schema.num_attributes)
    known[:, schema.attribute_names.index("floral")] = 1
    known[:, schema.attribute_names.index("plain")] = -1
    with torch.no_grad():
        ref = model(torch.from_numpy(x), known)
    atol, rtol = TOLERANCES["onnx_vs_torch"]
    for i in range(2):
        np.testing.assert_allclose(floral[i].embedding, ref["embedding"][i].numpy(), atol=atol, rtol=rtol)
        assert np.abs(floral[i].embedding - plain[i].embedding).max() > 1e-5
        assert "attention" in floral[i].gates
    np.testing.assert_allclose(per_image[0].embedding, floral[0].embedding, atol=1e-6)
    np.testing.assert_allclose(per_image[1].embedding, plain[1].embedding, atol=1e-6)
    with pytest.raises(UnknownName, match="unknown attribute 'polka'; valid attributes: .*floral"):
        p(photos[0], known={"polka": True})
    with pytest.raises(BadInput, match="3 known= dicts given for 2 images"):
        p(photos, known=[{"floral": True}] * 3)


def test_label_masking_hides_a_quarter_to_all_labels():
    model = tiny("m2fashion", na=40)
    torch.manual_seed(0)
    hidden = model.mask_labels(torch.ones(2000, 40))
    frac = hidden.float().mean(1)
    assert frac.min() >= 0.25 and frac.max() <= 1.0
    assert frac.min() < 0.3 and frac.max() == 1.0 and 0.55 < frac.mean() < 0.7  # uniform count
    batch = {"image": torch.randn(4, 3, 64, 64), "attributes": torch.tensor([[1.0, -1, 0, 1] + [1] * 36] * 4),
             "category": torch.tensor([0, 1, 0, 1])}
    out = model.training_forward(batch)
    assert out["hidden"].shape == (4, 40) and out["hidden"].float().mean(1).min() >= 0.25


def test_attribute_loss_counts_only_hidden_known_labels():
    logits = torch.randn(2, 4, requires_grad=True)
    out = {"category_logits": torch.randn(2, 3), "attribute_logits": logits,
           "embedding": torch.nn.functional.normalize(torch.randn(2, 8), dim=1)}
    batch = {"category": torch.tensor([0, 1]), "attributes": torch.tensor([[1.0, -1, 0, 1], [1, 1, -1, 0]])}
    loss = M2FashionLoss(np.ones(4, np.float32), np.ones(4, np.float32))
    out["hidden"] = torch.zeros(2, 4, dtype=torch.bool)
    assert loss(out, batch)["attributes"].item() == 0.0
    out["hidden"] = torch.tensor([[True, False, True, False], [False, False, False, False]])
    got = loss(out, batch)["attributes"].item()  # only (0, 0): label 1; (0, 2) is unknown
    assert got == pytest.approx(torch.nn.functional.softplus(-logits[0, 0]).item(), rel=1e-5)


def test_triplet_loss_behaviour():
    cats = torch.tensor([0, 0, 1, 1])
    apart = torch.tensor([[1.0, 0], [0.99, 0.1], [0, 1], [0.1, 0.99]])
    mixed = torch.tensor([[1.0, 0], [0, 1], [0.99, 0.1], [0.1, 0.99]])
    assert float(triplet_loss(apart, cats, margin=0.2)) == 0.0
    assert float(triplet_loss(mixed, cats, margin=0.2)) > 0.9
    one_class = torch.randn(3, 4, requires_grad=True)
    zero = triplet_loss(one_class, torch.tensor([2, 2, 2]))
    zero.backward()
    assert zero.item() == 0.0 and torch.all(one_class.grad == 0)
    attrs = torch.tensor([[1.0, -1, 1], [1, -1, -1], [-1, 1, -1], [0, 0, 0]])
    pos, neg = triplet_masks(cats, attrs, "auto")  # the paper's rule: share a present attribute
    assert pos[0, 1] and not pos[0, 2] and neg[0, 2] and not neg[0, 3] and not pos[0, 0]
    pos, _ = triplet_masks(cats, attrs, "category")
    assert pos[0, 1] and pos[2, 3] and not pos[0, 2]


# ---------------------------------------------------------------------------- multibranch
def test_multibranch_groups_heads_and_schema_options():
    schema = LabelSchema.simple(["a", "b"], ATTRS, exclusive_groups=["sleeve"])
    opts = MultiBranch.schema_options(schema)
    assert opts == {"groups": [3, 2]}
    model = tiny("multibranch", 2, 5, **opts)
    assert len(model.group_heads) == 2 and model.config["groups"] == [3, 2]
    assert tiny("multibranch", 2, 5).config["groups"] == [5]  # default: one group
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model(x)["attribute_logits"]
        model.group_heads[1][-1].bias.add_(1.0)
        after = model(x)["attribute_logits"]
    torch.testing.assert_close(after[:, :3], before[:, :3])         # schema order: texture first
    torch.testing.assert_close(after[:, 3:], before[:, 3:] + 1.0)
    with pytest.raises(BadInput, match="add up to 4 attributes, but the model has 5"):
        create_model("multibranch", 2, 5, **{**MultiBranch.tiny_config, "groups": [2, 2]})
    # DeepFashion-C interleaves its groups: the branches' outputs are gathered into schema order
    split = LabelSchema((Category("a"),), (Attribute("x", "g1"), Attribute("y", "g2"), Attribute("z", "g1")))
    opts = MultiBranch.schema_options(split)
    assert opts == {"groups": [2, 1], "group_of": [0, 1, 0]}
    model = tiny("multibranch", 1, 3, **opts)
    with torch.no_grad():
        before = model(x)["attribute_logits"]
        model.group_heads[1][-1].bias.add_(1.0)
        after = model(x)["attribute_logits"]
    torch.testing.assert_close(after - before, torch.tensor([[0.0, 1, 0]] * 2))
    with pytest.raises(BadInput, match="does not match groups"):
        create_model("multibranch", 1, 3, **{**MultiBranch.tiny_config, "groups": [1, 2], "group_of": [0, 1, 0]})


def test_multibranch_checkpoint_round_trip_and_fast_path_restored(tmp_path, real_photos):
    schema = LabelSchema.simple(["a", "b"], ATTRS)
    model = tiny("multibranch", 2, 5, groups=[3, 2], task_weights=[1.0, 2.0])
    prep = PreprocessConfig(input_size=64)
    path = save_checkpoint(tmp_path / "m.pt", model, schema, prep)
    loaded, _ = load_checkpoint(path)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for k, v in model(x).items():
            torch.testing.assert_close(loaded(x)[k], v)
    assert loaded.cfg.groups == (3, 2) and loaded.cfg.task_weights == (1.0, 2.0)
    export_onnx(model, schema, prep, tmp_path / "m.onnx",
                check_inputs=check_inputs_from_images(real_photos[:2], prep))
    assert torch.backends.mha.get_fastpath_enabled()  # switched off only while tracing


def test_masked_multitask_bce_by_hand():
    logits = torch.tensor([[0.0, 2.0, -1.0, 3.0], [1.0, 0.0, 0.0, -2.0]])
    labels = torch.tensor([[1.0, -1, 0, 0], [0, 0, -1, 1]])  # image 0 knows group 1 only, 1 group 2 only
    out = {"attribute_logits": logits, "category_logits": torch.zeros(2, 3)}
    batch = {"attributes": labels, "category": torch.tensor([-1, -1])}
    loss = MaskedMultiTaskLoss([[0, 1], [2, 3]], [1.0, 0.5])
    sp = torch.nn.functional.softplus
    g1 = sp(-logits[0, 0]) + sp(logits[0, 1])        # one labelled image in group 1
    g2 = sp(logits[1, 2]) + sp(-logits[1, 3])        # one labelled image in group 2
    got = loss(out, batch)
    assert float(got["attributes"]) == pytest.approx(float(g1 + 0.5 * g2), rel=1e-5)
    assert float(got["category"]) == 0.0
    logits2 = logits.clone()
    logits2[0, 2:] = 50.0  # unknown labels: any score costs nothing
    assert float(loss({**out, "attribute_logits": logits2}, batch)["loss"]) == pytest.approx(
        float(got["loss"]), rel=1e-6)
    bce = MaskedMultiTaskLoss([[0, 1], [2, 3]], [1.0, 1.0], category="bce")
    c = bce(out, {**batch, "category": torch.tensor([0, 2])})["category"]
    assert float(c) == pytest.approx(3 * float(sp(torch.tensor(0.0))), rel=1e-5)


# ---------------------------------------------------------------------------- data and metrics
@pytest.mark.needs_data
def test_fashion_product_reader_gives_exclusive_groups():
    from edgefashion.data.fashion_product import read_fashion_product

    root = data_dir("fashion-product-small")
    schema, samples = read_fashion_product(root)
    assert len(samples) == 660 and schema.num_categories == 68
    assert schema.groups == ("masterCategory", "subCategory", "gender", "baseColour", "season", "usage")
    assert schema.exclusive_groups == schema.groups
    assert [len(v) for v in schema.group_indices().values()] == [3, 24, 5, 34, 4, 4]
    assert "baseColour=Blue" in schema.attribute_names
    assert dict((c.name, c.type) for c in schema.categories)["Jeans"] == "lower"
    labels = np.stack([s.attributes for s in samples])
    for g, idx in schema.group_indices().items():
        pos = (labels[:, idx] == 1).sum(1)
        assert set(pos) <= {0, 1}
        unknown = (labels[:, idx] == 0).all(1)
        assert np.array_equal(unknown, pos == 0)       # a group is wholly known or wholly unknown
    season = schema.group_indices()["season"]
    assert ((labels[:, season] == 0).all(1)).sum() == 2  # the two rows with an empty season
    _, train = read_fashion_product(root, "train", schema)
    _, val = read_fashion_product(root, "val", schema)
    assert {s.path for s in train}.isdisjoint({s.path for s in val})
    assert len(train) + len(val) == 660 and 60 < len(val) < 140
    assert {schema.category_names[s.category] for s in val} >= {"Tshirts", "Watches"}
    small = LabelSchema.simple(["Tshirts"], {"gender": ["gender=Men"]}, exclusive_groups=["gender"])
    _, other = read_fashion_product(root, schema=small)
    women = next(s for s in other if s.category == -1 and s.attributes[0] == -1)
    assert women.attributes.tolist() == [-1]
    with pytest.raises(DatasetError, match="styles.csv"):
        read_fashion_product(root / "images")


def test_average_jaccard_by_hand():
    pred = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1]], bool)
    labels = np.array([[1, -1, 1, -1], [-1, -1, -1, -1], [1, 0, 0, -1], [0, 0, 0, 0]])
    got = average_jaccard(pred, labels, {"a": [0, 1], "b": [2, 3]})
    # image 0: Y={0,2}, Y^={0,1} -> 1/3; image 1: both empty -> 1; image 2: known {0,3}: 1/1; image 3 skipped
    assert got["overall"] == pytest.approx((1 / 3 + 1 + 1) / 3)
    # group a: img0 {0} vs {0,1} -> 1/2, img1 -> 1, img2 {0} vs {0} -> 1
    assert got["a"] == pytest.approx((0.5 + 1 + 1) / 3)
    # group b: img0 {2} vs {} -> 0, img1 -> 1, img2 known {3}: {} vs {} -> 1
    assert got["b"] == pytest.approx((0 + 1 + 1) / 3)
    assert np.isnan(average_jaccard(pred[3:], labels[3:])["overall"])


def test_evaluation_report_adds_jaccard_and_embedding_map():
    from edgefashion.training.evaluate import evaluate_outputs

    schema = LabelSchema.simple(["a", "b"], ATTRS, exclusive_groups=["texture", "sleeve"])
    logits = np.array([[5, -5, -5, -5, 5], [5, 4, -5, 5, -5], [-5, -5, -5, -5, -5]], np.float32)
    outs = {"category_logits": np.array([[2, 0], [0, 2], [2, 0]], np.float32),
            "categories": np.array([0, 1, 0]), "attribute_logits": logits,
            "attributes": np.array([[1, -1, -1, -1, 1], [-1, 1, -1, 1, -1], [0, 0, 0, 1, -1]]),
            "embedding": np.array([[1, 0], [0, 1], [0.9, 0.1]], np.float32)}
    rep = evaluate_outputs(outs, schema)
    # image 1: texture keeps only the best of plain / striped -> plain (wrong); image 2 predicts nothing
    assert rep["jaccard_accuracy_groups"] == pytest.approx({"texture": 0.5, "sleeve": 2 / 3})
    assert rep["jaccard_accuracy"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert rep["retrieval_map_category"] == 1.0


@pytest.mark.parametrize("name, tv, first", [
    ("m2fashion", "resnet50", "backbone.conv1.weight"),
    ("multibranch", "efficientnet_b0", "backbone.features.0.0.weight"),
])
def test_backbone_weights_load_from_a_local_torchvision_file(name, tv, first, tmp_path):
    import torchvision

    from edgefashion.errors import ModelFileError

    torch.manual_seed(0)
    path = tmp_path / f"{tv}.pth"
    torch.save(getattr(torchvision.models, tv)(weights=None).state_dict(), path)  # with fc / classifier
    model = create_model(name, 2, 2, input_size=32, backbone_weights=str(path))
    saved = torch.load(path, weights_only=True)
    torch.testing.assert_close(model.state_dict()[first], saved[first.removeprefix("backbone.")])
    assert model.config["backbone_weights"] is None  # the path is not baked into checkpoints
    with pytest.raises(ModelFileError, match="does not match"):
        create_model(name, 2, 2, width=0.5, input_size=32, backbone_weights=str(path))
    with pytest.raises(ModelFileError, match="never downloads"):
        create_model(name, 2, 2, input_size=32, backbone_weights=str(tmp_path / "missing.pth"))
