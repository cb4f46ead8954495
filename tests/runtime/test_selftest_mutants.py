"""The self-test (runtime/selftest.py) against hand-computed values: reference sets built from real
photos and from seeded noise, run on a tiny ONNX graph with known weights (tiny_onnx.py) by real
ONNX Runtime, and the check's numbers (cosine, max abs error, top-1 gap) computed by hand. Each test
pins a behaviour a mutation of the module would change; they stay fast because the mutation run
executes them once per mutant.
"""
from __future__ import annotations

import base64
import json
import os
import zlib

import cv2
import numpy as np
import onnx
import pytest
import tiny_onnx as T

from edgefashion.errors import BadInput, SelfTestError
from edgefashion.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgefashion.runtime.images import load_image
from edgefashion.runtime.metadata import METADATA_KEY, read_onnx_metadata
from edgefashion.runtime.predictor import Predictor
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess_batch, resize
from edgefashion.runtime.selftest import (TOLERANCES, _check, add_reference_set, artifact_precision,
                                          decode_array, encode_array, fit_tolerance, reference_images,
                                          reference_inputs, reference_set, run_self_test)

pytestmark = pytest.mark.needs_data
# BGR models: a self-test that fell back to the default (RGB) preprocessing would fail on them
BGR = PreprocessConfig(input_size=T.SIZE, color="bgr")
COS = ("category_logits", "attribute_logits", "embedding")
MAPS = ("gate1", "attention", "gate_multi", "landmarks")
DRIFT_TAIL = (". The artifact's answers drifted from its fp32 reference: rebuild the engine for this "
              "device / TensorRT version (edgefashion build), or re-export the model")


@pytest.fixture(scope="module")
def models(tmp_path_factory, schema, real_photos):
    d = tmp_path_factory.mktemp("selftest")
    ref = T.build(d / "ref.onnx", schema, prep=BGR)
    block = add_reference_set(ref, images=real_photos[::7], n=3)
    return {"ref": ref, "block": block, "dir": d,
            "static_known": T.build(d / "static_known.onnx", schema, prep=BGR, batch=2, known=True)}


def forward_fn(schema, scale: float = 1.0):
    """The tiny graph in NumPy as a callable model (batch -> outputs), optionally scaled."""
    w = T.weights(schema)
    return lambda x: {k: (v * scale).astype(np.float32) for k, v in T.forward(x, w).items()}


def test_encoding_round_trip_and_layout():
    a = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    enc = encode_array(a)
    assert sorted(enc) == ["data", "dtype", "shape"] and enc["shape"] == [3, 5] and enc["dtype"] == "float32"
    raw = zlib.decompress(base64.b64decode(enc["data"].encode("ascii")))
    assert raw == a.tobytes()
    back = decode_array(enc)
    assert back.dtype == np.float32 and np.array_equal(back, a)
    back[0, 0] = 7.0  # a writable copy
    half = encode_array(a.T, "float16")  # non-contiguous in, cast
    assert half["dtype"] == "float16" and half["shape"] == [5, 3]
    assert zlib.decompress(base64.b64decode(half["data"])) == np.ascontiguousarray(a.T, np.float16).tobytes()
    np.testing.assert_array_equal(decode_array(half), a.T.astype(np.float16))


def test_reference_images_from_photos_and_seeded_noise(real_photos):
    prep = PreprocessConfig(input_size=T.SIZE, resize="center_crop")
    imgs, source = reference_images(prep, [real_photos[0], real_photos[1].read_bytes(),
                                           load_image(real_photos[2])], n=2)
    assert source == "images" and len(imgs) == 2
    for im, f in zip(imgs, real_photos[:2]):
        assert np.array_equal(im, resize(load_image(f), T.SIZE, "center_crop"))
    assert len(reference_images(prep, real_photos, n=0)[0]) == 1  # at least one
    for size in (16, 40):
        cfg = PreprocessConfig(input_size=size)
        noise, source = reference_images(cfg, None, n=3, seed=5)
        assert source == "noise" and len(noise) == 3
        rng = np.random.default_rng(5)  # seeded smooth noise: size / 8 cells (at least 2), upsampled
        cells = max(2, size // 8)
        for im in noise:
            small = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
            want = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
            assert im.dtype == np.uint8 and np.array_equal(im, want)
    default = reference_images(PreprocessConfig(input_size=16), n=0)
    assert default[1] == "noise" and len(default[0]) == 1
    assert np.array_equal(default[0][0], reference_images(PreprocessConfig(input_size=16), n=1, seed=0)[0][0])
    assert not np.array_equal(default[0][0], reference_images(PreprocessConfig(input_size=16), n=1, seed=1)[0][0])


def test_reference_set_layout_and_stored_outputs(schema, real_photos):
    fn = forward_fn(schema)
    extra = {"score": (lambda n: np.arange(n, dtype=np.float32)),            # (N,): kept
             "exact": (lambda n: np.full((n, 64, 64), 0.5, np.float32)),      # 4096 per image: kept
             "big": (lambda n: np.zeros((n, 4097), np.float32)),             # too big: left out
             "empty": (lambda n: np.zeros((n, 0), np.float32)),              # empty: left out
             "scalar": (lambda n: np.float32(1.0))}                          # 0-d: left out

    def model(x):
        return {**fn(x), **{k: f(len(x)) for k, f in extra.items()}}

    ref = reference_set(model, BGR, images=real_photos[:2])
    assert sorted(ref) == ["images", "input_size", "outputs", "reference_precision", "source", "version"]
    assert ref["version"] == 1 and ref["source"] == "images" and ref["input_size"] == T.SIZE
    assert ref["reference_precision"] == "fp32"
    one = reference_set(model, BGR, images=real_photos[:1], precision="int8")
    assert one["reference_precision"] == "int8" and list(one["outputs"]) == list(ref["outputs"])  # N = 1
    assert list(ref["outputs"]) == [*COS, *MAPS, "score", "exact"]
    imgs = [cv2.imdecode(np.frombuffer(base64.b64decode(b), np.uint8), cv2.IMREAD_COLOR) for b in ref["images"]]
    for im, f in zip(imgs, real_photos[:2]):
        assert np.array_equal(im, resize(load_image(f), T.SIZE, "stretch"))  # lossless PNG
    x = preprocess_batch(imgs, BGR)
    np.testing.assert_array_equal(reference_inputs(ref, BGR), x)
    want = model(x)
    for k, enc in ref["outputs"].items():
        assert enc["dtype"] == ("float32" if k in COS else "float16"), k
        np.testing.assert_array_equal(decode_array(enc), want[k].astype(enc["dtype"]))
    noise = reference_set(model, BGR, n=2, seed=3)
    assert noise["source"] == "noise" and len(noise["images"]) == 2
    np.testing.assert_array_equal(reference_inputs(noise, BGR),
                                  preprocess_batch(reference_images(BGR, None, 2, 3)[0], BGR))


def test_reference_inputs_refuse_a_foreign_set(schema, real_photos):
    ref = reference_set(forward_fn(schema), BGR, images=real_photos[:1])
    msg = ("the self-test images are not 64x64 PNGs; the reference set does not belong to this "
           "preprocessing: rebuild it (add_reference_set)")
    with pytest.raises(SelfTestError) as e:
        reference_inputs(ref, PreprocessConfig(input_size=64))
    assert str(e.value) == msg
    broken = {**ref, "images": [base64.b64encode(b"not a png").decode("ascii")]}
    with pytest.raises(SelfTestError):
        reference_inputs(broken, BGR)


def test_add_reference_set_rewrites_only_the_metadata(models, schema, real_photos, tmp_path):
    path = T.build(tmp_path / "m.onnx", schema, prep=BGR)
    m = onnx.load(str(path))
    entry = m.metadata_props.add()
    entry.key, entry.value = "other", "kept"
    onnx.save(m, str(path))
    before = read_onnx_metadata(path)
    block = add_reference_set(path, images=real_photos[3:5])
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]  # the temporary file was renamed over it
    m = onnx.load(str(path))
    assert sorted(p.key for p in m.metadata_props) == [METADATA_KEY, "other"]
    assert {p.key: p.value for p in m.metadata_props}["other"] == "kept"
    meta = read_onnx_metadata(path)
    assert meta == {**before, "self_test": json.loads(json.dumps(block))}
    assert block["source"] == "images" and len(block["images"]) == 2
    np.testing.assert_array_equal(reference_inputs(block, BGR),
                                  preprocess_batch([resize(load_image(f), T.SIZE, "stretch")
                                                    for f in real_photos[3:5]], BGR))
    out = T.forward(reference_inputs(block, BGR), T.weights(schema))
    np.testing.assert_allclose(decode_array(block["outputs"]["category_logits"]), out["category_logits"],
                               atol=1e-5)
    noise = add_reference_set(path, n=2, seed=4)  # replaces the block
    assert read_onnx_metadata(path)["self_test"]["source"] == "noise" and len(noise["images"]) == 2
    np.testing.assert_array_equal(reference_inputs(noise, BGR),
                                  preprocess_batch(reference_images(BGR, None, 2, 4)[0], BGR))
    assert add_reference_set(path, n=1)["images"] == reference_set(forward_fn(schema), BGR, n=1)["images"]
    given = add_reference_set(path, reference=models["block"])
    assert given == models["block"] and read_onnx_metadata(path)["self_test"] == models["block"]
    bare = T.build(tmp_path / "bare.onnx", schema, metadata=False)
    with pytest.raises(SelfTestError) as e:
        add_reference_set(bare, n=1)
    assert str(e.value) == (f"{str(bare)!r} has no edgefashion metadata to hold a self-test; export it "
                            "with `edgefashion export`")


def test_fit_tolerance_by_hand():
    report = {"outputs": {"category_logits": {"cosine_min": 0.99, "max_abs": 5.0},
                          "embedding": {"cosine_min": 0.9, "max_abs": 3.0},
                          "gate1": {"cosine_min": 0.1, "max_abs": 0.03},
                          "landmarks": {"cosine_min": 0.2, "max_abs": 0.2}},
              "top1": {"worst_gap": 0.3}}
    assert fit_tolerance(report, "int8") == pytest.approx({"cosine": 0.8, "map_abs": 0.4, "margin": 0.6})
    assert fit_tolerance(report, "int8", factor=3.0) == pytest.approx(
        {"cosine": 0.7, "map_abs": 0.6, "margin": 0.9})
    assert fit_tolerance(report, "fp16") == pytest.approx({"cosine": 0.8, "map_abs": 0.4, "margin": 0.6})
    far = {"outputs": {"embedding": {"cosine_min": 0.6, "max_abs": 0.0}}, "top1": {"worst_gap": 0.8}}
    assert fit_tolerance(far, "int8") == pytest.approx({"cosine": 0.5, "map_abs": 0.25, "margin": 1.0})
    close = {"outputs": {"category_logits": {"cosine_min": 0.99999, "max_abs": 0.0}}, "top1": None}
    assert fit_tolerance(close, "fp16") == TOLERANCES["fp16"]  # never tighter than the default
    assert fit_tolerance({}, "fp32") == TOLERANCES["fp32"]
    assert fit_tolerance({"outputs": {}, "top1": {}}, "int8") == TOLERANCES["int8"]


def test_artifact_precision():
    assert artifact_precision(None) == "fp32"
    assert artifact_precision({}) == "fp32"
    assert artifact_precision({"precision": "int8"}) == "int8"
    assert artifact_precision({"precision": {"precision": "fp16", "calib": 20}}) == "fp16"
    assert artifact_precision({"precision": "bf16"}) == "fp32"
    assert artifact_precision({"precision": {"mode": "int8"}}) == "fp32"


def test_run_self_test_on_every_kind_of_target(models, schema):
    path = models["ref"]
    p = Predictor(path, threads=1, self_test=True)
    rep = p.self_test_report
    assert sorted(rep) == ["failures", "images", "model", "outputs", "passed", "precision", "tolerance", "top1"]
    assert rep["passed"] is True and rep["failures"] == [] and rep["images"] == 3
    assert rep["precision"] == "fp32" and rep["tolerance"] == TOLERANCES["fp32"] and rep["model"] == str(path)
    assert list(rep["outputs"]) == [*COS, *MAPS] and rep["top1"] == {"agreement": 1.0, "worst_gap": 0.0}
    for name, o in rep["outputs"].items():
        assert sorted(o) == ["cosine_min", "max_abs"]
        assert o["cosine_min"] > 0.99999 and o["max_abs"] < (1e-4 if name in COS else 2e-3), name
    backend = OnnxRuntimeBackend(path, threads=1)
    assert run_self_test(backend)["passed"] and run_self_test(backend)["model"] == str(path)
    meta = read_onnx_metadata(path)
    fn = forward_fn(schema)
    by_fn = run_self_test(fn, metadata=meta)
    assert by_fn["passed"] and by_fn["model"] == "the model"
    # a model without a reference set is checked against a metadata block given explicitly
    plain = OnnxRuntimeBackend(T.build(models["dir"] / "plain.onnx", schema, prep=BGR), threads=1)
    assert run_self_test(plain, metadata=meta)["passed"]
    # without "preprocess" in the metadata: the reference's input size and default preprocessing
    rgb = T.build(models["dir"] / "rgb.onnx", schema)
    rgb_block = add_reference_set(rgb, n=2)
    assert run_self_test(OnnxRuntimeBackend(rgb), metadata={"self_test": rgb_block})["passed"]
    # a static batch of 2 with a "known" input, 3 reference images: padded, known fed as zeros
    static = OnnxRuntimeBackend(models["static_known"], threads=1)
    assert run_self_test(static, metadata=meta)["passed"]
    assert run_self_test(Predictor(models["static_known"], threads=1), metadata=meta)["passed"]
    # a backend without attribute outputs (nothing to size a "known" input from)
    bare = schema.replace(attributes=(), exclusive_groups=(), applicability={})
    headless = T.build(models["dir"] / "headless.onnx", bare, prep=BGR, attributes=False, extras=False)
    assert list(add_reference_set(headless, n=2)["outputs"]) == ["category_logits"]
    assert run_self_test(OnnxRuntimeBackend(headless))["passed"]
    with pytest.raises(BadInput) as e:
        run_self_test(5, metadata=meta)
    assert str(e.value) == ("cannot run a self-test on a int; pass a Predictor, a Backend or a callable "
                            "batch -> outputs")


def test_missing_reference_and_precisions(models, schema):
    plain = T.build(models["dir"] / "noref.onnx", schema, prep=BGR)
    with pytest.raises(SelfTestError) as e:
        Predictor(plain, self_test=True)
    assert str(e.value) == (f"{str(plain)} carries no self-test reference set; re-export / re-quantize it "
                            "with this edgefashion, or add one with "
                            "edgefashion.runtime.selftest.add_reference_set")
    with pytest.raises(SelfTestError, match="^the model carries no"):
        run_self_test(forward_fn(schema), metadata={})
    with pytest.raises(SelfTestError, match="^the model carries no"):
        run_self_test(forward_fn(schema))  # a callable has no metadata of its own
    meta = read_onnx_metadata(models["ref"])
    fn = forward_fn(schema)
    with pytest.raises(BadInput) as e:
        run_self_test(fn, metadata=meta, precision="int4")
    assert str(e.value) == "precision 'int4' must be one of fp32, fp16, int8"
    assert run_self_test(fn, metadata=meta, precision="int8")["tolerance"] == TOLERANCES["int8"]
    as_fp16 = {**meta, "precision": {"precision": "fp16"}}
    rep = run_self_test(fn, metadata=as_fp16)
    assert rep["precision"] == "fp16" and rep["tolerance"] == TOLERANCES["fp16"]
    # tolerances: the precision default < the reference set's own < the caller's
    tuned = {**meta, "self_test": {**meta["self_test"], "tolerance": {"fp32": {"cosine": 0.5, "margin": 0.2},
                                                                      "int8": {"cosine": 0.1}}}}
    assert run_self_test(fn, metadata=tuned)["tolerance"] == {"cosine": 0.5, "map_abs": 0.01, "margin": 0.2}
    assert run_self_test(fn, metadata=tuned, tolerance={"margin": 0.3, "map_abs": 0.02})["tolerance"] == {
        "cosine": 0.5, "map_abs": 0.02, "margin": 0.3}


def test_drift_fails_with_the_first_four_failures(models, schema):
    meta = read_onnx_metadata(models["ref"])

    def broken(x):  # every output wrong: negated logits and embedding, maps moved by 0.5
        out = forward_fn(schema)(x)
        return {k: (-v if k in COS else v + 0.5) for k, v in out.items()}

    rep = run_self_test(broken, metadata=meta, raise_on_fail=False)
    assert rep["passed"] is False and len(rep["failures"]) == 8
    assert rep["failures"][:3] == [f"{k} cosine {rep['outputs'][k]['cosine_min']:.5f} < 0.9995" for k in COS]
    assert rep["failures"][3:7] == [f"{k} max abs error {rep['outputs'][k]['max_abs']:.4f} > 0.01" for k in MAPS]
    assert rep["failures"][7].startswith("top-1 category changed on 3 of 3 images (reference-logit gap ")
    with pytest.raises(SelfTestError) as e:
        run_self_test(broken, metadata=meta)
    assert str(e.value) == ("self-test failed for the model (fp32): " + "; ".join(rep["failures"][:4])
                            + DRIFT_TAIL)
    # a uniformly scaled logit vector keeps its cosine and its top-1: it passes
    assert run_self_test(forward_fn(schema, 2.0), metadata=meta, tolerance={"map_abs": 10.0})["passed"]


def _ref(outputs: dict, n: int) -> dict:
    return {"images": ["x"] * n, "outputs": {k: encode_array(v, "float32" if k in COS else "float16")
                                             for k, v in outputs.items()}}


def test_check_numbers_by_hand():
    rng = np.random.default_rng(0)
    want = rng.standard_normal((3, 10)).astype(np.float32)
    have = want + 0.8 * rng.standard_normal((3, 10)).astype(np.float32)
    gate = rng.uniform(0, 1, (3, 1, 4, 4)).astype(np.float16).astype(np.float32)
    tol = dict(TOLERANCES["fp32"])
    ref = _ref({"category_logits": want, "gate1": gate}, 3)
    cos = [float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
           for a, b in zip(want.astype(np.float64), have.astype(np.float64))]
    rep = _check(ref, {"category_logits": have, "gate1": gate + 0.004}, tol)
    assert rep["outputs"]["category_logits"]["cosine_min"] == pytest.approx(min(cos), abs=1e-12)
    assert rep["outputs"]["category_logits"]["max_abs"] == pytest.approx(float(np.abs(want - have).max()),
                                                                         abs=1e-6)
    assert rep["outputs"]["gate1"]["max_abs"] == pytest.approx(0.004, abs=1e-6)
    pick = have.argmax(1)
    gaps = (want.max(1) - want[np.arange(3), pick]) / (want.max(1) - want.min(1))
    assert rep["top1"] == pytest.approx({"agreement": float(np.mean(pick == want.argmax(1))),
                                         "worst_gap": float(gaps.max())})
    assert rep["images"] == 3 and sorted(rep) == ["failures", "images", "outputs", "passed", "top1"]
    # the limits are inclusive: a value exactly at the tolerance passes
    at = {"cosine": rep["outputs"]["category_logits"]["cosine_min"], "map_abs": rep["outputs"]["gate1"]["max_abs"],
          "margin": rep["top1"]["worst_gap"]}
    assert _check(ref, {"category_logits": have, "gate1": gate + 0.004}, at)["passed"]
    assert float(gaps.max()) > 0 and min(cos) < 1  # the cases are not trivial


def test_check_edge_cases():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 10)).astype(np.float32)
    tol = dict(TOLERANCES["fp32"])
    # all-zero rows agree with all-zero rows (cosine 1), not with anything else (cosine 0)
    zero_row = logits.copy()
    zero_row[1] = 0
    assert _check(_ref({"embedding": zero_row}, 3), {"embedding": zero_row}, tol)["passed"]
    one_side = _check(_ref({"embedding": logits}, 3), {"embedding": zero_row}, tol)
    assert one_side["outputs"]["embedding"]["cosine_min"] == 0.0 and not one_side["passed"]
    zeros = np.zeros((3, 5), np.float32)
    assert _check(_ref({"embedding": zeros}, 3), {"embedding": zeros}, tol)["outputs"]["embedding"] == {
        "cosine_min": 1.0, "max_abs": 0.0}
    # one category: top-1 is always the same
    single = _check(_ref({"category_logits": logits[:, :1]}, 3), {"category_logits": logits[:, :1]}, tol)
    assert single["top1"] == {"agreement": 1.0, "worst_gap": 0.0}
    # tiny but identical outputs: cosine 1 (the 1e-30 floor only guards a division by zero)
    small = (logits * 1e-4).astype(np.float32)
    assert _check(_ref({"embedding": small}, 3), {"embedding": small}, tol)["outputs"]["embedding"][
        "cosine_min"] == pytest.approx(1.0, abs=1e-9)
    # maps are judged by their absolute error, never by a cosine (meaningless for near-zero maps)
    faint = rng.uniform(0, 1e-3, (3, 4, 4)).astype(np.float32)
    other = rng.uniform(0, 1e-3, (3, 4, 4)).astype(np.float32)
    assert _check(_ref({"gate2": faint}, 3), {"gate2": other}, tol)["passed"]
    nan = _check(_ref({"gate2": faint}, 3), {"gate2": np.full_like(faint, np.nan)}, tol)
    assert nan["failures"] == ["gate2 max abs error nan > 0.01"]
    # missing and mis-shaped outputs are failures; the other outputs are still checked
    ref = _ref({"gate1": faint[:, None], "category_logits": logits, "embedding": logits}, 3)
    rep = _check(ref, {"category_logits": logits, "embedding": -logits}, tol)
    assert rep["failures"][:2] == ["output 'gate1' is missing, expected (3, 1, 4, 4)",
                                   f"embedding cosine {-1.0:.5f} < 0.9995"]
    rep = _check(ref, {"gate1": faint, "category_logits": logits[:2], "embedding": logits}, tol)
    assert rep["failures"] == ["output 'gate1' is (3, 4, 4), expected (3, 1, 4, 4)",
                               "output 'category_logits' is (2, 10), expected (3, 10)"]
    assert rep["top1"] is None and rep["passed"] is False
    # top-1: only where both sides have category logits
    assert _check(_ref({"embedding": logits}, 3), {"embedding": logits, "category_logits": logits},
                  tol)["top1"] is None
    # a near-tie may flip within the margin; a real change of answer fails, counted per image
    tie = np.array([[1.0, 0.0, 0.999, -1.0], [0, 1, 0, 0], [0.2, 0.1, 0.15, 0.1]], np.float32)
    flip = tie.copy()
    flip[0] = [0.0, 0.0, 1.0, 0.0]  # picks 2: gap 0.001 / 2 of the range
    flip[2] = [0.0, 1.0, 0.0, 0.0]  # picks 1: gap 0.1 / 0.1 = 1.0 of the range
    rep = _check(_ref({"category_logits": tie}, 3), {"category_logits": flip}, {**tol, "cosine": -1.0})
    assert rep["top1"] == pytest.approx({"agreement": 1 / 3, "worst_gap": 1.0}, rel=1e-6)
    assert rep["failures"] == ["top-1 category changed on 1 of 3 images (reference-logit gap 1.000 of the "
                               "range > 0.01)"]
    rep = _check(_ref({"category_logits": tie[:1]}, 1), {"category_logits": flip[:1]},
                 {**tol, "cosine": -1.0, "margin": 0.0004})
    assert rep["top1"]["worst_gap"] == pytest.approx(0.0005, rel=1e-3) and rep["passed"] is False
    assert _check(_ref({"category_logits": tie[:1]}, 1), {"category_logits": flip[:1]},
                  {**tol, "cosine": -1.0, "margin": 0.001})["passed"]


def test_cam_is_checked_only_where_the_top1_agrees():
    """A near-tie flip gives another class's cam: the margin rule judges it, not the map check."""
    tie = np.array([[1.0, 0.999, 0.0], [0.0, 1.0, 0.0]], np.float32)
    flip = np.array([[0.999, 1.0, 0.0], [0.0, 1.0, 0.0]], np.float32)   # image 0 flips, within margin
    cam = np.zeros((2, 1, 2, 2), np.float32)
    other = cam.copy()
    other[0] = 1.0                              # the flipped image's cam: another class's map
    tol = {**TOLERANCES["fp32"], "cosine": -1.0}
    ref = _ref({"category_logits": tie, "cam": cam}, 2)
    rep = _check(ref, {"category_logits": flip, "cam": other}, tol)
    assert rep["passed"] and rep["outputs"]["cam"]["max_abs"] == 0.0
    other[1] = 0.5                              # drift where the top-1 agrees still fails
    rep = _check(ref, {"category_logits": flip, "cam": other}, tol)
    assert rep["failures"] == ["cam max abs error 0.5000 > 0.01"]
    none = _check(_ref({"category_logits": tie[:1], "cam": cam[:1]}, 1),
                  {"category_logits": flip[:1], "cam": other[:1]}, tol)
    assert none["passed"] and none["outputs"]["cam"] == {"cosine_min": 1.0, "max_abs": 0.0, "images": 0}


def test_add_reference_set_replaces_in_the_file_folder(schema, tmp_path):
    """The new file is written next to the old one and renamed over it: atomic, and possible across
    file systems (here /dev/shm, a tmpfs, when the temporary folder is elsewhere)."""
    import shutil
    import tempfile

    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tempfile.gettempdir()).st_dev:
        pytest.skip("needs a /dev/shm on another file system than the temporary folder")
    d = tempfile.mkdtemp(dir=shm, prefix="edgefashion-selftest-")
    try:
        path = T.build(os.path.join(d, "m.onnx"), schema, prep=BGR)
        add_reference_set(path, n=1)
        assert os.listdir(d) == ["m.onnx"] and read_onnx_metadata(path)["self_test"]["source"] == "noise"
    finally:
        shutil.rmtree(d)
