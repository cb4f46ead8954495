"""The grouped attribute loss: softmax cross-entropy per exclusive group (unknown rows masked,
normalised by log K), rare-positive multi-label losses, the schema it records, the paper option."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgefashion.data import Sample
from edgefashion.errors import BadInput
from edgefashion.labels import LabelSchema
from edgefashion.training import TrainConfig
from edgefashion.losses.attribute_groups import (GroupedAttributeLoss, multilabel_loss,
                                                 training_schema)
from edgefashion.losses.multitask import MultiTaskLoss, multitask_loss, weighted_bce


def _schema() -> LabelSchema:
    base = LabelSchema.simple(["tee", "jeans"], {"colour": ["red", "green", "blue"],
                                                 "fit": ["loose", "tight"],
                                                 "texture": ["striped", "dotted"]},
                              exclusive_groups=["colour", "fit"])
    return training_schema(base)


def test_training_schema_records_softmax_groups_and_paper_records_none():
    assert _schema().softmax_groups == ("colour", "fit")
    plain = LabelSchema.simple(["a"], {"colour": ["r", "g"]}, exclusive_groups=["colour"])
    assert training_schema(plain, "paper").softmax_groups == ()
    again = LabelSchema.from_json(_schema().to_json())
    assert again.softmax_groups == ("colour", "fit")
    with pytest.raises(BadInput, match="attribute_loss 'nope'"):
        training_schema(plain, "nope")


def test_single_value_exclusive_group_warns_and_stays_sigmoid():
    schema = LabelSchema.simple(["a"], {"season": ["summer"], "fit": ["x", "y"]},
                                exclusive_groups=["season", "fit"])
    with pytest.warns(UserWarning, match="'season' has a single value"):
        out = training_schema(schema)
    assert out.softmax_groups == ("fit",)


def test_softmax_group_is_cross_entropy_over_log_k_with_unknown_rows_masked():
    schema = LabelSchema.simple(["a"], {"colour": ["r", "g", "b"]}, exclusive_groups=["colour"])
    loss = GroupedAttributeLoss(training_schema(schema))
    z = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0], [9.0, -9.0, 4.0]])
    y = torch.tensor([[1, -1, -1], [-1, -1, 1], [0, 0, 0]])  # row 3: colour unknown
    want = F.cross_entropy(z[:2], torch.tensor([0, 2])) / math.log(3)
    torch.testing.assert_close(loss(z, y), want)
    wild = z.clone()
    wild[2] = torch.tensor([-50.0, 80.0, 3.0])  # the unknown row's logits change nothing
    torch.testing.assert_close(loss(wild, y), want)


def test_groups_are_normalised_so_many_and_few_values_start_equal():
    schema = LabelSchema.simple(["a"], {"colour": [f"c{i}" for i in range(34)], "fit": ["x", "y", "z"]},
                                exclusive_groups=["colour", "fit"])
    loss = GroupedAttributeLoss(training_schema(schema))
    y = -torch.ones(4, 37, dtype=torch.long)
    y[:, 0] = 1
    y[:, 34] = 1
    z = torch.zeros(4, 37)  # uniform logits: each group's CE is log K, normalised to 1
    torch.testing.assert_close(loss._softmax_group(z[:, :34], y[:, :34]), torch.tensor(1.0))
    torch.testing.assert_close(loss(z, y), torch.tensor(1.0))


def test_multilabel_group_masks_unknown_and_normalises():
    schema = training_schema(LabelSchema.simple(["a"], {"texture": ["s", "d", "f"]}))
    z = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.0, -1.0]])
    y = torch.tensor([[1, -1, 0], [-1, 1, -1]])
    known = y != 0
    t = (y == 1).float()
    bce = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    torch.testing.assert_close(GroupedAttributeLoss(schema, multilabel="bce")(z, y),
                               (bce * known).sum() / 5)  # a mean over the five known labels
    asl = multilabel_loss(z, t, "asymmetric")
    torch.testing.assert_close(GroupedAttributeLoss(schema)(z, y), (asl * known).sum() / 2)  # per positive


def test_asymmetric_loss_down_weights_easy_negatives_and_focal_matches_its_formula():
    z = torch.tensor([-3.0, 0.0, 3.0])
    t = torch.zeros(3)
    asl = multilabel_loss(z, t, "asymmetric")
    bce = multilabel_loss(z, t, "bce")
    assert float(asl[0]) == 0.0  # p = 0.047 < clip 0.05: an easy negative costs nothing
    assert torch.all(asl <= bce)
    p = torch.sigmoid(z)
    p_m = (p - 0.05).clamp(min=0)
    torch.testing.assert_close(asl, -(p_m ** 4) * torch.log(1 - p_m))
    t1 = torch.ones(3)
    torch.testing.assert_close(multilabel_loss(z, t1, "focal"), -((1 - p) ** 2) * torch.log(p))


def test_multitask_loss_picks_grouped_or_paper_from_the_config():
    schema = _schema()
    rng = np.random.default_rng(0)
    samples = [Sample(f"{i}.jpg", i % 2, np.where(rng.random(7) > 0.5, 1, -1)) for i in range(8)]
    grouped = multitask_loss(schema, samples, TrainConfig())
    assert isinstance(grouped.attribute_loss, GroupedAttributeLoss)
    paper = multitask_loss(schema, samples, TrainConfig(attribute_loss="paper"))
    assert paper.attribute_loss is None
    z = torch.randn(3, 7)
    y = torch.tensor(np.where(rng.random((3, 7)) > 0.5, 1, -1))
    torch.testing.assert_close(paper.attributes(z, y), weighted_bce(z, y, paper.w_pos, paper.w_neg))
    with pytest.raises(BadInput, match="attribute_loss"):
        TrainConfig(attribute_loss="softmax")
    assert isinstance(paper, MultiTaskLoss)


def test_softmax_training_learns_an_exclusive_group_that_weighted_bce_leaves_at_majority():
    """The failure the grouped loss fixes, in miniature: a 3-value group where one value is 70 %
    of the rows and the signal is a weak linear feature; the same linear model and steps."""
    g = torch.Generator().manual_seed(0)
    n, d = 600, 8
    truth = torch.multinomial(torch.tensor([0.7, 0.2, 0.1]), n, replacement=True, generator=g)
    x = torch.randn(n, d, generator=g)
    x[:, :3] += 1.2 * F.one_hot(truth, 3).float()
    labels = torch.where(F.one_hot(truth, 3) > 0, 1, -1)
    schema = training_schema(LabelSchema.simple(["a"], {"g": ["p", "q", "r"]}, exclusive_groups=["g"]))
    accs = {}
    for name in ("grouped", "paper"):
        torch.manual_seed(0)
        lin = torch.nn.Linear(d, 3)
        opt = torch.optim.Adam(lin.parameters(), lr=0.05)
        loss_fn = GroupedAttributeLoss(schema) if name == "grouped" else None
        w_pos, w_neg = torch.tensor([0.7, 2.5, 5.0]), torch.tensor([1.7, 0.6, 0.55])
        for _ in range(200):
            z = lin(x)
            loss = loss_fn(z, labels) if loss_fn else weighted_bce(z, labels, w_pos, w_neg)
            opt.zero_grad()
            loss.backward()
            opt.step()
        accs[name] = float((lin(x).argmax(1) == truth).float().mean())
    assert accs["grouped"] > 0.75, accs  # the majority share is 0.7
    assert accs["grouped"] > accs["paper"], accs
