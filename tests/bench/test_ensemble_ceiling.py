"""benchmarks/ensemble_ceiling.py's arithmetic: top-k, every ensemble ranked, the mistakes listed, the
command a checkpoint came from."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.ensemble_ceiling import ensembles, made_by, mistakes, top_k  # noqa: E402

Y = np.array([0, 1, 2, 0])
# a: right on 0, 1, 3 and narrowly wrong on 2; b: right on 1, 2, 3, very wrong on 0; c: always answers 0
A = np.array([[.8, .1, .1], [.1, .8, .1], [.5, .1, .4], [.7, .2, .1]])
B = np.array([[.2, .7, .1], [.1, .8, .1], [.1, .1, .8], [.6, .3, .1]])
C = np.array([[.9, .05, .05]] * 4)


def test_top_k():
    assert top_k(A, Y, 1) == 0.75 and top_k(A, Y, 2) == 1.0
    assert top_k(C, Y, 1) == 0.5 and top_k(C, Y, 3) == 1.0


def test_ensembles_are_every_combination_best_first():
    rows = ensembles({"a": A, "b": B, "c": C}, Y)
    assert [len(r["members"]) for r in rows].count(2) == 3 and len(rows) == 4
    assert rows[0] == {"members": ["a", "b"], "top1": 1.0, "top3": 1.0}   # each fixes the other
    assert [r["top1"] for r in rows] == sorted((r["top1"] for r in rows), reverse=True)


def test_mistakes_name_the_pairs_and_images():
    samples = [SimpleNamespace(path=f"img{i}.jpg") for i in range(4)]
    out = mistakes(C, Y, samples, ["shirt", "dress", "skirt"])
    assert out["count"] == 2 and out["pairs"] == {"dress -> shirt": 1, "skirt -> shirt": 1}
    assert out["images"][0] == {"path": "img1.jpg", "true": "dress", "answered": "shirt", "prob": 0.9}


def test_made_by_reads_the_run_folders_command(tmp_path):
    run = tmp_path / "distilled_s1"
    (run / "teacher").mkdir(parents=True)
    (run / "command.json").write_text(json.dumps({"command": ["edgefashion", "train", "DATA"]}))
    assert made_by(str(run / "best.pt")) == ["edgefashion", "train", "DATA"]
    assert made_by(str(run / "teacher" / "best.pt")) == ["edgefashion", "train", "DATA"]
    assert made_by(str(tmp_path / "elsewhere" / "best.pt")) is None


def test_a_checkpoint_with_other_categories_is_refused(tiny_ckpt):
    import pytest

    from benchmarks.ensemble_ceiling import category_probs
    from edgefashion.errors import BadInput
    from edgefashion.labels import LabelSchema

    other = LabelSchema.simple(["c1", "c0", "c2", "c3", "c4", "c5"], {})   # same names, other order
    with pytest.raises(BadInput, match="same categories in one order"):
        category_probs(str(tiny_ckpt), [], other, 8)
