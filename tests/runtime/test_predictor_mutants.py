"""The Predictor against hand-computed answers: a tiny ONNX graph with known weights (tiny_onnx.py),
real ONNX Runtime, real photos. Each test pins a behaviour a mutation of runtime/predictor.py would
change (tools/mutation/targets.txt runs these once per mutant, so they stay fast: no torch, no export).
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import tiny_onnx as T

from edgefashion.errors import BadInput, EdgeFashionError, ImageDecodeError, MissingMetadata
from edgefashion.errors import SchemaError, ShapeError, UnknownName
from edgefashion.labels import Category
from edgefashion.labels.landmarks import LANDMARK_NAMES
from edgefashion.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgefashion.runtime.images import load_image
from edgefashion.runtime.postprocess import postprocess, resolve_thresholds
from edgefashion.runtime.prediction import Prediction
from edgefashion.runtime.predictor import Predictor
from edgefashion.runtime.preprocess import PreprocessConfig, input_to_image, preprocess

pytestmark = pytest.mark.needs_data
PREP = PreprocessConfig(input_size=T.SIZE)
STAGES = ("preprocess", "inference", "postprocess")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, schema):
    d = tmp_path_factory.mktemp("tiny")
    return {
        "plain": T.build(d / "tiny.onnx", schema),
        "named": T.build(d / "named.onnx", schema, model_config={"landmark_names": ["a", "b", "c", "d"]}),
        "known": T.build(d / "known.onnx", schema, known=True),
        "static": T.build(d / "static.onnx", schema, batch=2),
        "no_meta": T.build(d / "no_meta.onnx", schema, metadata=False),
        "dyn_no_meta": T.build(d / "dyn_no_meta.onnx", schema, metadata=False, spatial=None),
        "bgr": T.build(d / "bgr.onnx", schema, prep=PreprocessConfig(input_size=T.SIZE, color="bgr")),
        "dir": d,
    }


@pytest.fixture(scope="module")
def photos(real_photos):
    return real_photos[::3][:7]  # 7 real photos of different categories


def expected(schema, images, boxes=None, prep=PREP, threshold=None, top_k=5, known=None, seed=0):
    """What the Predictor must answer, computed without it: preprocess -> NumPy graph -> postprocess."""
    boxes = boxes or [None] * len(images)
    x = np.stack([preprocess(im, prep, b) for im, b in zip(images, boxes)])
    out = T.forward(x, T.weights(schema, seed), known)
    return out, postprocess(out, schema, top_k, resolve_thresholds(schema, threshold))


def check_prediction(r: Prediction, schema, out, post, j, image, box=None, prep=PREP, names=None):
    probs = post.category_probs[j]
    np.testing.assert_allclose(r.category.probs, probs, atol=1e-5)
    top = [(schema.category_names[i], float(p)) for i, p in zip(post.top_indices[j], post.top_probs[j])]
    assert [n for n, _ in r.category.ranked] == [n for n, _ in top]
    np.testing.assert_allclose([p for _, p in r.category.ranked], [p for _, p in top], atol=1e-5)
    assert r.category.label == top[0][0] and r.category.index == int(post.top_indices[j, 0])
    assert r.category.score == pytest.approx(top[0][1], abs=1e-5)
    assert list(r.category.names) == schema.category_names
    assert list(r.scores) == schema.attribute_names
    np.testing.assert_allclose(list(r.scores.values()), post.attribute_scores[j], atol=1e-5)
    for group, idx in schema.group_indices().items():
        on = sorted((a for a in idx if post.attribute_labels[j, a]), key=lambda a: -post.attribute_scores[j, a])
        assert r.attributes[group] == [schema.attribute_names[a] for a in on], group
    assert set(r.attributes) == set(schema.group_indices())
    assert sorted(r.gates) == ["attention", "gate1"]  # "gate_multi" is (3, h, w): not a single map
    for k in ("gate1", "attention"):
        assert r.gates[k].dtype == np.float32 and r.gates[k].shape == (4, 4)
        np.testing.assert_allclose(r.gates[k], out[k][j].reshape(4, 4), atol=1e-5)
    np.testing.assert_allclose(r.embedding, out["embedding"][j], atol=1e-5)
    px = input_to_image(out["landmarks"][j], image.shape, prep, box)
    names = names or [f"landmark{k}" for k in range(T.N_LANDMARKS)]
    assert list(r.landmarks) == names
    for n, p in zip(names, px):
        np.testing.assert_allclose(r.landmarks[n], (p[0], p[1], p[2]), rtol=1e-4, atol=1e-3)
    assert r.bbox == (None if box is None else tuple(float(v) for v in box))
    assert r.error is None and r.ok


def test_batched_predictions_are_the_hand_computed_ones(tiny, schema, photos):
    p = Predictor(tiny["plain"], batch_size=3, threads=1)
    assert p.batch_size == 3 and p.fixed_batch is None
    images = [load_image(f) for f in photos]
    out, post = expected(schema, images)
    t0 = time.perf_counter()
    got = p([str(f) for f in photos])
    wall = (time.perf_counter() - t0) * 1e3
    assert isinstance(got, list) and len(got) == 7
    for j, (r, f, im) in enumerate(zip(got, photos, images)):
        assert r.source == str(f)
        check_prediction(r, schema, out, post, j, im)
    assert len({r.category.label for r in got}) >= 3  # the fixture's answers vary with the photo
    # timings: 3 batches (3 + 3 + 1); each image holds its share of its batch, in milliseconds
    t = p.last_timings
    assert set(t) == {*STAGES, "total", "images", "batches"}
    assert t["images"] == 7 and t["batches"] == 3
    assert t["total"] == pytest.approx(sum(t[k] for k in STAGES), rel=1e-12)
    for k in STAGES:
        assert t[k] > 0 and sum(r.timings[k] for r in got) == pytest.approx(t[k], rel=1e-9)
        assert got[0].timings[k] == pytest.approx(got[1].timings[k], rel=1e-12)  # same batch
    assert set(got[0].timings) == set(STAGES)
    assert 0.3 * wall <= t["total"] <= wall  # stages cover the call; ms, not s or us


def test_single_inputs_give_one_prediction(tiny, schema, photos):
    p = Predictor(tiny["named"], threads=1)
    path = photos[0]
    img = load_image(path)
    out, post = expected(schema, [img])
    for src, source in [(path, str(path)), (str(path), str(path)),
                        (path.read_bytes(), f"<{path.stat().st_size} bytes>"),
                        (img, f"<array shape={img.shape} dtype=uint8>")]:
        r = p(src)
        assert isinstance(r, Prediction) and r.source == source
        check_prediction(r, schema, out, post, 0, img, names=["a", "b", "c", "d"])
    assert p.last_timings["images"] == 1 and p.last_timings["batches"] == 1
    gray = np.ascontiguousarray(img[:, :, 1])  # (H, W): one grey image, not a list of rows
    assert isinstance(p(gray), Prediction)
    both = p(np.stack([img, img]))  # (2, H, W, 3): a batch of two
    assert isinstance(both, list) and len(both) == 2
    gen = p(x for x in [path, path])  # any iterable is a list of images
    assert isinstance(gen, list) and [r.category.label for r in gen] == [gen[0].category.label] * 2
    with pytest.raises(ImageDecodeError, match="cannot read an image from <int>"):
        p(7)


def test_top_k_threshold_and_bboxes(tiny, schema, photos):
    p = Predictor(tiny["plain"], threads=1)
    img = load_image(photos[1])
    h, w = img.shape[:2]
    box = (w * 0.2, h * 0.1, w * 0.8, h * 0.7)
    for kwargs in [{}, {"top_k": 2}, {"threshold": 0.05}, {"threshold": 0.9999}, {"top_k": 3, "threshold": 0.3}]:
        out, post = expected(schema, [img], [box], threshold=kwargs.get("threshold"),
                             top_k=kwargs.get("top_k", 5))
        r = p(img, bboxes=box, **kwargs)
        check_prediction(r, schema, out, post, 0, img, box)
        assert len(r.category.ranked) == kwargs.get("top_k", 5)
    # several labels of a group come best first, which is not the schema's order for every photo
    low = p(photos, threshold=0.05)
    order = {n: i for i, n in enumerate(schema.attribute_names)}
    assert any(v != sorted(v, key=order.get) for r in low for v in r.attributes.values())
    out, post = expected(schema, [load_image(f) for f in photos], threshold=0.05)
    for j, (r, f) in enumerate(zip(low, photos)):
        check_prediction(r, schema, out, post, j, load_image(f))
    assert not any(p(img, bboxes=box, threshold=0.9999).attributes.values())
    out, post = expected(schema, [img, img], [None, box])
    got = p([img, img], bboxes=[None, box])
    check_prediction(got[0], schema, out, post, 0, img)
    check_prediction(got[1], schema, out, post, 1, img, box)
    with pytest.raises(BadInput) as e:
        p([img, img], bboxes=[box])
    assert str(e.value) == "1 bboxes given for 2 images; give one per image (None where there is none)"


def test_bad_images_in_a_list_become_error_predictions(tiny, schema, photos, tmp_path):
    p = Predictor(tiny["plain"], batch_size=4, threads=1)
    img = load_image(photos[2])
    missing = tmp_path / "missing.jpg"
    unreadable = "/proc/self/mem"  # a regular file whose read fails: an OSError, typed
    items = [missing, img, b"not an image", unreadable, img]
    boxes = [(1, 2, 3, 4), None, None, (5, 6, 7, 8), (0, 0, 30, 40)]
    got = p(items, bboxes=boxes)
    out, post = expected(schema, [img, img], [None, (0, 0, 30, 40)])
    check_prediction(got[1], schema, out, post, 0, img)
    check_prediction(got[4], schema, out, post, 1, img, (0, 0, 30, 40))
    assert [r.ok for r in got] == [False, True, False, False, True]
    assert got[0].source == str(missing) and got[0].bbox == (1.0, 2.0, 3.0, 4.0)
    assert got[0].category is None and isinstance(got[0].error, ImageDecodeError)
    assert str(got[0].error) == f"image {str(missing)!r} does not exist (or is not a file)"
    assert got[2].source == "<12 bytes>" and isinstance(got[2].error, ImageDecodeError)
    assert got[3].source == unreadable and got[3].bbox == (5.0, 6.0, 7.0, 8.0)
    assert isinstance(got[3].error, ImageDecodeError)
    assert str(got[3].error) == f"cannot read image {unreadable!r}: [Errno 5] Input/output error"
    assert all(set(r.timings) == set(STAGES) for r in got)
    with pytest.raises(ImageDecodeError, match="Input/output error") as e:
        p(unreadable)  # a single image raises
    assert isinstance(e.value.__cause__, OSError)
    with pytest.raises(ImageDecodeError, match="does not exist"):
        p(missing)
    bad = p([missing, b"x"])  # no good image at all: no inference
    assert [r.ok for r in bad] == [False, False] and p.last_timings["images"] == 2


def test_to_predictions_matches_the_call(tiny, schema, photos):
    p = Predictor(tiny["plain"], threads=1)
    images = [load_image(f) for f in photos[:3]]
    box = (5, 5, 60, 80)
    x = np.stack([p.preprocess(images[0]), p.preprocess(images[1], box), p.preprocess(images[2])])
    raw = p.infer(x)
    out, post = expected(schema, images, [None, box, None], threshold=0.2, top_k=3)
    got = p.to_predictions(raw, ["a", "b", "c"], [im.shape for im in images], [None, box, None],
                           top_k=3, threshold=0.2)
    for j, r in enumerate(got):
        assert r.source == "abc"[j]
        check_prediction(r, schema, out, post, j, images[j], [None, box, None][j])
    out, post = expected(schema, images)
    plain = p.to_predictions(raw, ["a", "b", "c"], [im.shape for im in images])  # defaults
    check_prediction(plain[0], schema, out, post, 0, images[0])
    assert [len(r.category.ranked) for r in plain] == [5, 5, 5]


def test_infer_preprocess_and_limits(tiny, schema, photos):
    p = Predictor(tiny["plain"], threads=1, max_pixels=200_000_000)
    img = load_image(photos[0])
    x = np.stack([p.preprocess(photos[0]), p.preprocess(img, (10, 10, 50, 90))])
    np.testing.assert_array_equal(x[0], preprocess(img, PREP))
    np.testing.assert_array_equal(x[1], preprocess(img, PREP, (10, 10, 50, 90)))
    buf = np.zeros((3, T.SIZE, T.SIZE), np.float32)
    assert p.preprocess(img, out=buf) is buf and np.array_equal(buf, x[0])
    ref = T.forward(x, T.weights(schema))
    got = p.infer(x)
    assert set(got) == set(ref)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], atol=1e-5)
    small = Predictor(tiny["plain"], threads=1, max_pixels=100)
    assert small.max_pixels == 100
    with pytest.raises(ImageDecodeError, match="above the limit of 100"):
        small.preprocess(photos[0])
    with pytest.raises(ImageDecodeError, match="above the limit of 100"):
        small(photos[0])
    f = img.astype(np.float32) / 255.0
    unit = Predictor(tiny["plain"], threads=1, float_scale=1.0)
    assert unit.float_scale == 1.0
    np.testing.assert_array_equal(unit.preprocess(f), preprocess(img, PREP))
    np.testing.assert_allclose(unit(f).category.probs, p(img).category.probs, atol=1e-6)
    with pytest.raises(BadInput, match="scale is not declared"):
        p(f)


def test_known_states_reach_the_model(tiny, schema, photos):
    p = Predictor(tiny["known"], threads=1)
    assert list(p.extra_inputs) == ["known"]
    img = load_image(photos[3])
    names = schema.attribute_names
    k = p.known_states({"striped": True, "dotted": False, "plain": None}, 2)
    want = np.zeros((2, len(names)), np.float32)
    want[:, names.index("striped")], want[:, names.index("dotted")] = 1.0, -1.0
    assert k.dtype == np.float32 and np.array_equal(k, want)
    per = p.known_states([{"v-neck": 1}, None, {}], 3)
    assert np.array_equal(per[0], np.eye(len(names), dtype=np.float32)[names.index("v-neck")])
    assert not per[1:].any()
    assert p.known_states(None, 4) is None
    for known, vec in [(None, np.zeros(len(names))), ({"striped": True, "dotted": False}, want[0])]:
        out, post = expected(schema, [img, img], known=None if known is None else np.stack([vec, vec]))
        got = p([img, img], known=known)
        for j in range(2):
            check_prediction(got[j], schema, out, post, j, img)
        np.testing.assert_allclose(p.infer(np.stack([preprocess(img, PREP)] * 2), known=k)["attribute_logits"],
                                   expected(schema, [img, img], known=k)[0]["attribute_logits"], atol=1e-5)
    one = p(img, known={"plain": True})
    out, post = expected(schema, [img], known=np.eye(len(names), dtype=np.float32)[[names.index("plain")]])
    check_prediction(one, schema, out, post, 0, img)
    with pytest.raises(BadInput) as e:
        p([img, img], known=[{}, {}, {}])
    assert str(e.value) == "3 known= dicts given for 2 images; give one dict (for all) or one per image"
    with pytest.raises(UnknownName) as e:
        p(img, known={"polka": True})
    assert str(e.value) == f"unknown attribute 'polka'; valid attributes: {', '.join(sorted(names))}"
    plain = Predictor(tiny["plain"], threads=1)
    with pytest.raises(BadInput) as e:
        plain(img, known={"striped": True})
    assert str(e.value) == ("known= was given, but model 'tiny.onnx' takes no attribute states (its "
                            "inputs: ['image']); use an m2fashion model")


def test_static_batch_model_runs_in_chunks(tiny, schema, photos):
    p = Predictor(tiny["static"], batch_size=8, threads=1)
    assert p.fixed_batch == 2 and p.batch_size == 2
    images = [load_image(f) for f in photos[:5]]
    out, post = expected(schema, images)
    got = p(images)
    for j, r in enumerate(got):
        check_prediction(r, schema, out, post, j, images[j])
    assert p.last_timings["batches"] == 3
    x = np.stack([preprocess(im, PREP) for im in images[:3]])
    np.testing.assert_allclose(p.infer(x)["category_logits"], out["category_logits"][:3], atol=1e-5)


class CountingBackend(OnnxRuntimeBackend):
    """ONNX Runtime, recording the batch of every inference (to see what warmup runs)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.batches: list[int] = []

    def infer(self, inputs):
        self.batches.append(len(inputs["image"]))
        return super().infer(inputs)


def test_loading_options_reach_the_backend(tiny, schema):
    import onnxruntime as ort

    b = CountingBackend(tiny["plain"], threads=1)
    p = Predictor(b)
    assert p.backend is b and b.batches == []  # no warmup, no self-test by default
    assert p.self_test_report is None and p.last_timings == {} and p.batch_size == 8
    p.warmup()
    p.warmup(3)
    assert b.batches == [1, 1, 1, 1]
    assert [r.ok for r in p(["/nonexistent/x.jpg", b"x"])] == [False, False]
    assert b.batches == [1, 1, 1, 1]  # no readable image: no inference at all
    s = CountingBackend(tiny["static"], threads=1)
    Predictor(s, warmup=2)
    assert s.batches == [2, 2]
    q = Predictor(tiny["plain"], device="cpu", providers=["CPUExecutionProvider"], threads=1,
                  optimization="disable", batch_size=1)
    opts = q.backend.session.get_session_options()
    assert opts.intra_op_num_threads == 1 and q.batch_size == 1
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert Predictor(tiny["plain"], backend="onnxruntime").backend.name == "onnxruntime"
    with pytest.raises(EdgeFashionError):
        Predictor(tiny["plain"], backend="tensorrt")  # asked for by name: not the suffix's default
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(EdgeFashionError):
            Predictor(tiny["plain"], device="cuda")
        with pytest.raises(EdgeFashionError):
            Predictor(tiny["plain"], providers=["CUDAExecutionProvider"])
    with pytest.raises(BadInput) as e:
        Predictor(tiny["plain"], batch_size=0)
    assert str(e.value) == "batch_size=0 must be at least 1"


def test_info_repr_and_close(tiny, schema):
    p = Predictor(tiny["plain"], batch_size=3, threads=1)
    assert p.info() == {
        "path": str(tiny["plain"]), "backend": "onnxruntime", "device": "cpu", "model": "tiny",
        "batch_size": 3, "num_categories": 10, "num_attributes": 7,
        "outputs": ["category_logits", "attribute_logits", "embedding", "gate1", "attention", "gate_multi",
                    "landmarks"],
        "preprocess": PREP.to_dict(),
    }
    assert repr(p) == (f"Predictor({str(tiny['plain'])!r}, backend='onnxruntime', device='cpu', "
                       "categories=10, attributes=7)")
    assert Predictor(tiny["no_meta"], schema=schema).info()["model"] is None
    with Predictor(tiny["plain"]) as q:
        assert q.backend.session is not None
    assert q.backend.session is None


def test_schema_and_preprocess_sources(tiny, schema, photos, tmp_path):
    with pytest.raises(MissingMetadata) as e:
        Predictor(tiny["no_meta"])
    assert str(e.value) == (
        f"model {str(tiny['no_meta'])!r} has no edgefashion metadata (no label schema inside), so its "
        "outputs have no names; pass schema=LabelSchema(...) (and preprocess=PreprocessConfig(...) if it "
        "was not trained with the defaults), or re-export it with `edgefashion export`")
    renamed = schema.replace(categories=tuple(Category(c.name.upper(), c.type) for c in schema.categories),
                             applicability={"lower": ("texture",), "HAT": ("texture",)})
    path = renamed.save(tmp_path / "schema.json")
    img = load_image(photos[0])
    for given in (renamed, renamed.to_dict(), path, str(path)):
        p = Predictor(tiny["plain"], schema=given, threads=1)
        assert p.schema == renamed and p(img).category.label.isupper()
    with pytest.raises(BadInput) as e:
        Predictor(tiny["plain"], schema=5)
    assert str(e.value) == "schema must be a LabelSchema, a dict or a JSON path; got int"
    # preprocessing: given (object or dict) > metadata > the model's input size > 224
    letter = PreprocessConfig(input_size=T.SIZE, resize="letterbox")
    for given in (letter, letter.to_dict()):
        assert Predictor(tiny["plain"], preprocess=given).preprocess_config == letter
    with pytest.raises(BadInput) as e:
        Predictor(tiny["plain"], preprocess=5)
    assert str(e.value) == "preprocess must be a PreprocessConfig or a dict; got int"
    bgr = Predictor(tiny["bgr"], threads=1)
    assert bgr.preprocess_config == PreprocessConfig(input_size=T.SIZE, color="bgr")
    out, post = expected(schema, [img], prep=bgr.preprocess_config)
    check_prediction(bgr(img), schema, out, post, 0, img, prep=bgr.preprocess_config)
    assert Predictor(tiny["no_meta"], schema=schema).preprocess_config == PREP  # from the input shape
    assert Predictor(tiny["dyn_no_meta"], schema=schema).preprocess_config == PreprocessConfig()
    dyn = Predictor(tiny["dyn_no_meta"], schema=schema, preprocess=PREP, threads=1)
    out, post = expected(schema, [img])
    check_prediction(dyn(img), schema, out, post, 0, img)  # 4 points, 8 default names: numbered
    assert dyn.landmark_names == list(LANDMARK_NAMES)


def test_models_the_predictor_refuses(tiny, schema):
    d = tiny["dir"]
    with pytest.raises(ShapeError) as e:
        Predictor(T.build(d / "mask.onnx", schema, extra_input="mask"))
    assert str(e.value) == ("model 'mask.onnx' has inputs ['image', 'mask']; the Predictor feeds one image "
                            "input plus any of ['known'], not ['mask']")
    with pytest.raises(ShapeError) as e:
        Predictor(tiny["plain"], preprocess=PreprocessConfig(input_size=64))
    assert str(e.value) == ("model 'tiny.onnx' takes 'image' of shape (None, 3, 32, 32), but preprocessing "
                            "makes (N, 3, 64, 64); pass preprocess=PreprocessConfig(input_size=...) matching it")
    small = schema.replace(attributes=schema.attributes[:6])
    with pytest.raises(SchemaError) as e:
        Predictor(tiny["plain"], schema=small)
    assert str(e.value).startswith("model 'tiny.onnx' has 10 category and 7 attribute outputs, but the "
                                   "LabelSchema has 10 categories and 6 attributes")
    # an attribute width only known at run time is checked by postprocess, not at load
    dyn = Predictor(T.build(d / "dyn_attr.onnx", schema, dynamic_attributes=True), threads=1)
    assert dyn.schema == schema
    # no attribute head: a schema without attributes fits it, one with attributes does not
    bare = schema.replace(attributes=(), exclusive_groups=(), applicability={})
    headless = T.build(d / "headless.onnx", bare, attributes=False, extras=False)
    with pytest.raises(SchemaError, match="10 category and 0 attribute outputs"):
        Predictor(headless, schema=schema)
    with pytest.raises(SchemaError) as e:
        Predictor(T.build(d / "nocat.onnx", schema, category_output="logits"))
    assert str(e.value) == ("model 'nocat.onnx' has outputs ['logits', 'attribute_logits', 'embedding', "
                            "'gate1', 'attention', 'gate_multi', 'landmarks'] but no 'category_logits'; "
                            "it is not an edgefashion classifier")


def test_minimal_models_and_xy_landmarks(tiny, schema, photos):
    d = tiny["dir"]
    img = load_image(photos[4])
    bare = schema.replace(attributes=(), exclusive_groups=(), applicability={})
    p = Predictor(T.build(d / "headless.onnx", bare, attributes=False, extras=False), threads=1)
    assert p.schema.num_attributes == 0
    r = p(img)
    out = T.forward(preprocess(img, PREP)[None], T.weights(bare), attributes=False, extras=False)
    assert r.landmarks is None and r.embedding is None and r.gates == {} and r.scores == {}
    np.testing.assert_allclose(r.category.probs, postprocess(out, bare).category_probs[0], atol=1e-5)
    xy = Predictor(T.build(d / "xy.onnx", schema, lm_cols=2), threads=1)
    r = xy(img)
    out = T.forward(preprocess(img, PREP)[None], T.weights(schema), lm_cols=2)
    px = input_to_image(out["landmarks"][0], img.shape, PREP)
    assert list(r.landmarks) == [f"landmark{k}" for k in range(T.N_LANDMARKS)]
    for (x, y, conf), q in zip(r.landmarks.values(), px):
        assert conf == 1.0 and (x, y) == pytest.approx((q[0], q[1]), rel=1e-4)
    # no metadata, two inputs: the input size still comes from the image input's shape
    known = Predictor(T.build(d / "known_no_meta.onnx", schema, known=True, metadata=False), schema=schema)
    assert known.preprocess_config == PREP
