"""Self-test at load: an artifact carries a few reference inputs and the fp32 model's answers on them.

    ref = reference_set(fp32_backend, preprocess, images=["a.jpg", "b.jpg"])   # at export / quantize
    meta["self_test"] = ref                                                   # into the metadata
    run_self_test(Predictor("model.engine"))        # at load: SelfTestError when the answers drift

The inputs are stored as PNG-encoded uint8 images already resized to the model's input size (lossless,
about 3x smaller than fp16 tensors, and exact: the preprocessing of a square image of the input size
does no resampling), so the self-test runs the same preprocessing as every prediction. Expected
outputs are stored zlib-compressed (logits / embeddings float32, the [0, 1] maps float16) for every
output with at most ``MAX_STORED_VALUES`` values per image (big gate maps are left out). About 60 KB
for 4 images at 64 x 64, 0.5 MB at 224 x 224.

Checks, per image, against the precision's tolerance (``TOLERANCES``; a metadata or caller override
wins): the cosine similarity of each stored logits / embedding output with the expected one is at
least ``cosine``, the bounded maps (gates, attention) are within ``map_abs`` of the expected ones, and
the category the artifact ranks first is one the reference ranks within ``margin`` (a fraction of
the reference logits' range) of its own top-1, so a near-tie may flip but a real change of answer
fails. The defaults are loose enough for an fp16 / int8 engine on another GPU (and TF32 in fp32)
and tight enough that a wrong engine, perturbed weights or broken preprocessing fail (see
tests/precision). ``quantize_onnx`` records per artifact a tolerance widened to twice the drift the
quantized ONNX itself showed (``fit_tolerance``): an engine may drift at most twice as far as its ONNX.
Imports neither torch nor onnx (``add_reference_set`` imports onnx when called).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Callable

import numpy as np

from edgefashion.errors import BadInput, SelfTestError
from edgefashion.runtime.feeds import feed_batch, split_inputs, static_batch
from edgefashion.runtime.images import load_image
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess_batch, resize

SELF_TEST_KEY = "self_test"
FORMAT_VERSION = 1
MAX_STORED_VALUES = 4096
DEFAULT_IMAGES = 4
# cosine: min per-image cosine of each logits / embedding output; map_abs: max abs error of the
# bounded [0, 1] maps (gates, attention, landmarks), where a cosine of near-zero maps means little;
# margin: see the module docstring.
TOLERANCES = {
    "fp32": {"cosine": 0.9995, "map_abs": 0.01, "margin": 0.01},  # room for TF32 / kernel order
    "fp16": {"cosine": 0.995, "map_abs": 0.05, "margin": 0.05},
    "int8": {"cosine": 0.95, "map_abs": 0.25, "margin": 0.15},
}
COSINE_OUTPUTS = ("category_logits", "attribute_logits", "embedding")
# maps that explain a top-1 logit (msfan_lite's "cam"): checked only on the images whose top-1
# category and attribute are the reference's; where a near-tie flips they show another class
TOP1_MAPS = ("cam",)
COSINE_FLOOR = 0.5  # fit_tolerance never accepts less: below it the answers are unrelated


# ------------------------------------------------------------------ encoding
def encode_array(a: np.ndarray, dtype: str = "float32") -> dict:
    a = np.ascontiguousarray(a, dtype=dtype)
    return {"shape": list(a.shape), "dtype": dtype,
            "data": base64.b64encode(zlib.compress(a.tobytes(), 9)).decode("ascii")}


def decode_array(d: Mapping) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(d["data"]))
    return np.frombuffer(raw, dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()


def _encode_png(img: np.ndarray) -> str:
    import cv2

    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise BadInput("could not PNG-encode a self-test reference image")
    return base64.b64encode(buf.tobytes()).decode("ascii")


# ------------------------------------------------------------------ building
def reference_images(preprocess: PreprocessConfig, images: Sequence | None = None,
                     n: int = DEFAULT_IMAGES, seed: int = 0) -> tuple[list[np.ndarray], str]:
    """Up to ``n`` uint8 BGR (S, S, 3) images: the first ``n`` of ``images`` (paths, bytes or
    arrays) resized as the preprocessing does, else seeded smooth noise. -> (images, source)."""
    s = preprocess.input_size
    if images:
        picked = list(images)[: max(1, int(n))]
        return [resize(load_image(p), s, preprocess.resize) for p in picked], "images"
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(max(1, int(n))):
        small = rng.integers(0, 256, (max(2, s // 8), max(2, s // 8), 3), dtype=np.uint8)
        out.append(cv2.resize(small, (s, s), interpolation=cv2.INTER_LINEAR))
    return out, "noise"


def reference_inputs(ref: Mapping, preprocess: PreprocessConfig) -> np.ndarray:
    """The (N, 3, S, S) float32 inputs of a reference set, through ``preprocess``."""
    import cv2

    imgs = [cv2.imdecode(np.frombuffer(base64.b64decode(b), np.uint8), cv2.IMREAD_COLOR)
            for b in ref["images"]]
    if any(im is None or im.shape[:2] != (preprocess.input_size,) * 2 for im in imgs):
        raise SelfTestError(
            f"the self-test images are not {preprocess.input_size}x{preprocess.input_size} PNGs; the "
            "reference set does not belong to this preprocessing: rebuild it (add_reference_set)")
    return preprocess_batch(imgs, preprocess)


def reference_set(model, preprocess: PreprocessConfig, images: Sequence | None = None,
                  n: int = DEFAULT_IMAGES, seed: int = 0, precision: str = "fp32") -> dict:
    """Build the metadata block: images and the answers of ``model`` (a Backend, Predictor or a
    callable batch -> outputs dict; the fp32 model) on them."""
    imgs, source = reference_images(preprocess, images, n, seed)
    ref = {"version": FORMAT_VERSION, "source": source, "reference_precision": precision,
           "input_size": preprocess.input_size, "images": [_encode_png(im) for im in imgs]}
    outputs = _runner(model)(reference_inputs(ref, preprocess))
    ref["outputs"] = {k: encode_array(v, "float32" if k in COSINE_OUTPUTS else "float16")
                      for k, v in outputs.items()
                      if v.ndim >= 1 and v[0].size <= MAX_STORED_VALUES and v.size > 0}
    return ref


def add_reference_set(onnx_path: str | Path, images: Sequence | None = None, n: int = DEFAULT_IMAGES,
                      seed: int = 0, reference: Mapping | None = None) -> dict:
    """Embed a reference set in an ONNX file's edgefashion metadata (the file is replaced atomically).

    The expected outputs are this file's own (run with ONNX Runtime on the CPU) unless ``reference``
    (a block from ``reference_set``, e.g. the fp32 model's) is given. Returns the block.
    """
    import onnx

    from edgefashion.runtime.backends.onnxruntime import OnnxRuntimeBackend
    from edgefashion.runtime.metadata import METADATA_KEY, preprocess_from_metadata

    path = Path(onnx_path)
    backend = OnnxRuntimeBackend(path)
    meta = backend.metadata
    if meta is None:
        raise SelfTestError(f"{str(path)!r} has no edgefashion metadata to hold a self-test; "
                            "export it with `edgefashion export`")
    ref = dict(reference) if reference is not None else reference_set(
        backend, preprocess_from_metadata(meta) or PreprocessConfig(), images, n, seed)
    backend.close()
    model = onnx.load(str(path))
    meta = {**meta, SELF_TEST_KEY: ref}
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".selftest_", suffix=".onnx")
    os.close(fd)
    onnx.save(model, tmp)
    shutil.copymode(path, tmp)  # mkstemp's 0600 would lock out a server running as another user
    os.replace(tmp, path)
    return ref


def fit_tolerance(report: Mapping, precision: str, factor: float = 2.0) -> dict:
    """The precision's default tolerance, widened to ``factor`` x the drift that ``report`` (a
    ``run_self_test`` report of the artifact when it was made) shows: a small model whose int8
    version already moved further than the default allows still gets a meaningful check (an
    engine may drift at most twice as far as the ONNX it was built from)."""
    base = dict(TOLERANCES[precision])
    outs = report.get("outputs", {})
    cos = min((o["cosine_min"] for n, o in outs.items() if n in COSINE_OUTPUTS), default=1.0)
    maps = max((o["max_abs"] for n, o in outs.items() if n not in COSINE_OUTPUTS), default=0.0)
    gap = (report.get("top1") or {}).get("worst_gap", 0.0)
    return {"cosine": max(COSINE_FLOOR, min(base["cosine"], 1.0 - factor * (1.0 - cos))),
            "map_abs": max(base["map_abs"], factor * maps),
            "margin": min(1.0, max(base["margin"], factor * gap))}


# ------------------------------------------------------------------ running
def artifact_precision(metadata: Mapping | None) -> str:
    """"fp32" / "fp16" / "int8" as recorded in the metadata ("precision" block or string)."""
    from edgefashion.runtime.metadata import recorded_precision

    p = recorded_precision(metadata)
    return p if p in TOLERANCES else "fp32"


def run_self_test(target, metadata: Mapping | None = None, precision: str | None = None,
                  tolerance: Mapping | None = None, raise_on_fail: bool = True) -> dict:
    """Run the reference set of ``metadata`` (default: the target's) on ``target`` (a Backend or a
    Predictor) and check it. -> report dict; SelfTestError when it fails and ``raise_on_fail``."""
    meta = metadata if metadata is not None else getattr(target, "metadata", None)
    where = str(getattr(target, "path", "the model"))
    ref = (meta or {}).get(SELF_TEST_KEY)
    if not ref:
        raise SelfTestError(
            f"{where} carries no self-test reference set; re-export / re-quantize it with this "
            "edgefashion, or add one with edgefashion.runtime.selftest.add_reference_set")
    precision = precision or artifact_precision(meta)
    if precision not in TOLERANCES:
        raise BadInput(f"precision {precision!r} must be one of {', '.join(TOLERANCES)}")
    tol = {**TOLERANCES[precision], **dict(ref.get("tolerance", {}).get(precision, {})),
           **dict(tolerance or {})}
    from edgefashion.runtime.metadata import preprocess_from_metadata

    prep = preprocess_from_metadata(meta) or PreprocessConfig(input_size=int(ref["input_size"]))
    got = _runner(target)(reference_inputs(ref, prep))
    report = _check(ref, got, tol)
    report.update(precision=precision, tolerance=tol, model=where)
    if raise_on_fail and not report["passed"]:
        raise SelfTestError(
            f"self-test failed for {where} ({precision}): " + "; ".join(report["failures"][:4])
            + ". The artifact's answers drifted from its fp32 reference: rebuild the engine for this "
            "device / TensorRT version (edgefashion build), or re-export the model")
    return report


def _check(ref: Mapping, got: Mapping[str, np.ndarray], tol: Mapping) -> dict:
    failures, outputs = [], {}
    same = _same_top1(ref, got)
    for name, enc in ref["outputs"].items():
        want = decode_array(enc)
        have = got.get(name)
        if have is None or have.shape != want.shape:
            failures.append(f"output {name!r} is {'missing' if have is None else have.shape}, "
                            f"expected {want.shape}")
            continue
        if name in TOP1_MAPS and same is not None:
            want, have = want[same], have[same]
            if not len(want):
                outputs[name] = {"cosine_min": 1.0, "max_abs": 0.0, "images": 0}
                continue
        a, b = want.reshape(len(want), -1).astype(np.float64), have.reshape(len(have), -1).astype(np.float64)
        cos = np.einsum("ij,ij->i", a, b) / np.maximum(
            np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
        cos = np.where((np.abs(a).max(1) == 0) & (np.abs(b).max(1) == 0), 1.0, cos)
        err = float(np.abs(a - b).max())
        outputs[name] = {"cosine_min": float(cos.min()), "max_abs": err}
        if name in COSINE_OUTPUTS and cos.min() < tol["cosine"]:
            failures.append(f"{name} cosine {cos.min():.5f} < {tol['cosine']}")
        elif name not in COSINE_OUTPUTS and not err <= tol["map_abs"]:
            failures.append(f"{name} max abs error {err:.4f} > {tol['map_abs']}")
    top1 = None
    if "category_logits" in ref["outputs"] and got.get("category_logits") is not None:
        want = decode_array(ref["outputs"]["category_logits"])
        have = got["category_logits"]
        if have.shape == want.shape and want.shape[1] > 0:
            pick = have.argmax(1)
            span = np.maximum(want.max(1) - want.min(1), 1e-12)
            gap = (want.max(1) - want[np.arange(len(want)), pick]) / span
            ok = gap <= tol["margin"]
            top1 = {"agreement": float(np.mean(pick == want.argmax(1))), "worst_gap": float(gap.max())}
            if not ok.all():
                failures.append(f"top-1 category changed on {int((~ok).sum())} of {len(ok)} images "
                                f"(reference-logit gap {gap.max():.3f} of the range > {tol['margin']})")
    return {"passed": not failures, "images": len(ref["images"]), "outputs": outputs,
            "top1": top1, "failures": failures}


def _same_top1(ref: Mapping, got: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """(N,) True where the artifact's top-1 category and top-1 attribute (the cam explains one of
    them) are the reference's; None when neither can be compared."""
    same = None
    for name in ("category_logits", "attribute_logits"):
        have = got.get(name)
        if name not in ref["outputs"] or have is None:
            continue
        want = decode_array(ref["outputs"][name])
        if have.shape != want.shape or want.ndim != 2 or want.shape[1] == 0:
            continue
        agree = np.asarray(have).argmax(1) == want.argmax(1)
        same = agree if same is None else same & agree
    return same


def _runner(target) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """batch -> outputs for a Predictor (its ``infer``), a Backend, or a callable."""
    if hasattr(target, "backend") and hasattr(target, "infer"):
        return lambda x: {k: np.asarray(v) for k, v in target.infer(x).items()}
    if hasattr(target, "infer") and hasattr(target, "input_specs"):
        # fed like the Predictor feeds it: neutral extra inputs ("known"), static batches padded
        specs = target.input_specs
        name, extras = split_inputs(specs)
        fixed = static_batch(specs, name)
        width = getattr(target, "output_specs", {}).get("attribute_logits")
        fill = width.shape[-1] if width is not None and isinstance(width.shape[-1], int) else 0
        return lambda x: {k: np.asarray(v)
                          for k, v in feed_batch(target, x, name, extras, fixed, fill).items()}
    if callable(target):
        return lambda x: {k: np.asarray(v) for k, v in target(x).items()}
    raise BadInput(f"cannot run a self-test on a {type(target).__name__}; pass a Predictor, a "
                   "Backend or a callable batch -> outputs")


__all__ = [
    "SELF_TEST_KEY",
    "TOLERANCES",
    "add_reference_set",
    "artifact_precision",
    "decode_array",
    "encode_array",
    "fit_tolerance",
    "reference_inputs",
    "reference_set",
    "run_self_test",
]
