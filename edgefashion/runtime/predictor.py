"""Predictor = load image -> preprocess (OpenCV) -> Backend.infer -> postprocess, with timings.

    p = Predictor("model.onnx")                 # or .pt / .engine; backend picked by suffix
    r = p("shirt.jpg")                          # path, encoded bytes, BGR array -> Prediction
    rs = p(["a.jpg", "b.png"], bboxes=[None, (10, 20, 200, 300)])   # list -> list[Prediction]

Imports neither torch nor the training / data-loading code: an ONNX Runtime or TensorRT machine
without torch can use it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from edgefashion.errors import BadInput, EdgeFashionError, ImageDecodeError, MissingMetadata
from edgefashion.errors import SchemaError, ShapeError, unknown_name
from edgefashion.labels.landmarks import LANDMARK_NAMES
from edgefashion.labels import LabelSchema
import edgefashion.runtime.preprocess as _prep
from edgefashion.runtime.backends.base import Backend, load_backend
from edgefashion.runtime.feeds import feed_batch, split_inputs, static_batch
from edgefashion.runtime.gated_targets import check_gated
from edgefashion.runtime.images import MAX_PIXELS, ImageSource, check_float_scale, describe, load_image
from edgefashion.runtime.metadata import preprocess_from_metadata, schema_from_metadata
from edgefashion.runtime.postprocess import (ATTRIBUTE_OUTPUT, CATEGORY_OUTPUT, Threshold,
                                             group_answers, postprocess, resolve_thresholds)
from edgefashion.runtime.prediction import CategoryResult, Prediction

__all__ = ["Predictor", "Prediction"]
# outputs that are (h, w) maps over the model input, served in Prediction.gates
MAP_PREFIXES = ("gate", "attention", "cam")

_SINGLE = (str, Path, bytes, bytearray, memoryview)
BBox = Union[Sequence[float], None]
STAGES = ("preprocess", "inference", "postprocess")
EXTRA_INPUTS = ("known",)  # optional model inputs the Predictor knows how to feed


class Predictor:
    """Serve one model file. See the module docstring.

    path: a model file (.onnx, .pt/.pth, .engine/.plan) or an already loaded Backend.
    backend: "auto" (from the suffix), "onnxruntime", "pytorch" or "tensorrt".
    device: None (the backend's default, CPU for ONNX Runtime and PyTorch), "cpu", "cuda[:N]".
    schema: a LabelSchema (or its dict / JSON path) overriding, or replacing missing, metadata.
    preprocess: a PreprocessConfig (or dict) overriding the one in the metadata.
    providers / threads: ONNX Runtime execution providers and intra-op threads.
    max_pixels: images with more pixels are refused (decompression bombs).
    float_scale: float image arrays are refused unless their scale is declared: 1.0 (values in
    [0, 1]) or 255.0 ([0, 255]); NaN / inf / out-of-range values are BadInput, never clipped. uint8
    arrays are BGR (H, W, 3), gray (H, W) or BGRA (H, W, 4); see runtime/images.py for every rule.
    self_test: run the reference inputs the artifact carries and fail (SelfTestError) when the
    answers drift beyond the precision's tolerance -- the check after a driver upgrade or a copy.
    """

    def __init__(self, path: str | Path | Backend, backend: str = "auto", device: str | None = None,
                 batch_size: int = 8, schema: LabelSchema | Mapping | str | Path | None = None,
                 preprocess: _prep.PreprocessConfig | Mapping | None = None,
                 providers: Sequence | str | None = None, threads: int | None = None,
                 warmup: int = 0, max_pixels: int = MAX_PIXELS, self_test: bool = False,
                 float_scale: float | None = None, **backend_options: Any) -> None:
        if int(batch_size) < 1:
            raise BadInput(f"batch_size={batch_size} must be at least 1")
        if isinstance(path, Backend):
            self.backend = path
        else:
            opts = {k: v for k, v in dict(device=device, providers=providers, threads=threads).items()
                    if v is not None}
            self.backend = load_backend(path, backend, **opts, **backend_options)
        self.path = Path(self.backend.path)
        self.metadata = self.backend.metadata
        self.schema = self._resolve_schema(schema)
        self.preprocess_config = self._resolve_preprocess(preprocess)
        self.input_name = self._check_model()
        self.fixed_batch = static_batch(self.backend.input_specs, self.input_name)
        self.batch_size = self.fixed_batch or int(batch_size)
        self.max_pixels = int(max_pixels)
        self.float_scale = check_float_scale(float_scale)
        self.last_timings: dict[str, float] = {}
        self._groups = self.schema.group_indices()
        self._attr_names = self.schema.attribute_names
        self._applicable = self.schema.applicability_mask()
        self._attr_index = {n: i for i, n in enumerate(self._attr_names)}
        self.landmark_names = list((self.metadata or {}).get("model_config", {}).get(
            "landmark_names") or LANDMARK_NAMES)
        self.self_test_report: dict | None = None
        check_gated(self.metadata, self.backend)  # an int8 file on a runtime its gate did not run on
        if self_test:
            from edgefashion.runtime.selftest import run_self_test

            self.self_test_report = run_self_test(self, self.metadata)
        if warmup:
            self.warmup(warmup)

    # ------------------------------------------------------------------ setup
    def _resolve_schema(self, schema) -> LabelSchema:
        if isinstance(schema, LabelSchema):
            return schema
        if isinstance(schema, Mapping):
            return LabelSchema.from_dict(schema)
        if isinstance(schema, (str, Path)):
            return LabelSchema.load(schema)
        if schema is not None:
            raise BadInput(f"schema must be a LabelSchema, a dict or a JSON path; "
                           f"got {type(schema).__name__}")
        found = schema_from_metadata(self.metadata)
        if found is None:
            raise MissingMetadata(
                f"model {str(self.path)!r} has no edgefashion metadata (no label schema inside), so its "
                "outputs have no names; pass schema=LabelSchema(...) (and preprocess=PreprocessConfig"
                "(...) if it was not trained with the defaults), or re-export it with `edgefashion export`"
            )
        return found

    def _resolve_preprocess(self, cfg) -> _prep.PreprocessConfig:
        if isinstance(cfg, _prep.PreprocessConfig):
            return cfg
        if isinstance(cfg, Mapping):
            return _prep.PreprocessConfig.from_dict(cfg)
        if cfg is not None:
            raise BadInput(f"preprocess must be a PreprocessConfig or a dict; got {type(cfg).__name__}")
        found = preprocess_from_metadata(self.metadata)
        if found is not None:
            return found
        specs = self.backend.input_specs
        shape = specs[split_inputs(specs)[0]].shape  # the image input's, also beside a "known" input
        size = shape[-1] if len(shape) == 4 and isinstance(shape[-1], int) else 224
        return _prep.PreprocessConfig(input_size=size)

    def _check_model(self) -> str:
        """The image input's name; SchemaError / ShapeError when the model disagrees with us."""
        specs = self.backend.input_specs
        name, self.extra_inputs = split_inputs(specs)
        unknown = [n for n in self.extra_inputs if n not in EXTRA_INPUTS]
        if unknown:
            raise ShapeError(f"model {self.path.name!r} has inputs {list(specs)}; the Predictor feeds "
                             f"one image input plus any of {list(EXTRA_INPUTS)}, not {unknown}")
        shape, s = specs[name].shape, self.preprocess_config.input_size
        if len(shape) != 4 or any(isinstance(d, int) and d != e for d, e in zip(shape[1:], (3, s, s))):
            raise ShapeError(
                f"model {self.path.name!r} takes {name!r} of shape {tuple(shape)}, but preprocessing "
                f"makes (N, 3, {s}, {s}); pass preprocess=PreprocessConfig(input_size=...) matching it"
            )
        outs = self.backend.output_specs
        if CATEGORY_OUTPUT not in outs:
            raise SchemaError(f"model {self.path.name!r} has outputs {list(outs)} but no "
                              f"{CATEGORY_OUTPUT!r}; it is not an edgefashion classifier")
        nc = outs[CATEGORY_OUTPUT].shape[-1]
        na = outs[ATTRIBUTE_OUTPUT].shape[-1] if ATTRIBUTE_OUTPUT in outs else 0
        if isinstance(nc, int) and isinstance(na, int):
            self.schema.check_outputs(nc, na, where=f"model {self.path.name!r}")
        return name

    # ------------------------------------------------------------------ public API
    def preprocess(self, img: ImageSource, bbox: BBox = None, out: np.ndarray | None = None) -> np.ndarray:
        """Any image source -> the float32 (3, S, S) tensor fed to the model (training's preprocessing)."""
        img = load_image(img, self.max_pixels, self.float_scale)
        return _prep.preprocess(img, self.preprocess_config, bbox, out=out)

    def __call__(self, inputs: ImageSource | Iterable[ImageSource], bboxes: Any = None,
                 top_k: int = 5, threshold: Threshold = None, known: Any = None
                 ) -> Prediction | list[Prediction]:
        """A single path / bytes / BGR array -> Prediction (a bad one raises); a list -> list.

        bboxes: for a single image one (x1, y1, x2, y2) or None; for a list, one per image.
        top_k: how many categories ``category.top()`` holds. threshold: a global attribute threshold
        (or one per attribute, or name -> value) replacing the schema's per-attribute thresholds.
        known: attribute states the caller already knows, for models with a "known" input
        (m2fashion): {"floral": True, "denim": False}, or a list of such dicts, one per image.
        """
        single = _is_single(inputs)
        items = [inputs] if single else list(inputs)
        if single:
            boxes = [bboxes]
        elif bboxes is None:
            boxes = [None] * len(items)
        else:
            boxes = list(bboxes)
            if len(boxes) != len(items):
                raise BadInput(f"{len(boxes)} bboxes given for {len(items)} images; give one per "
                               "image (None where there is none)")
        thresholds = resolve_thresholds(self.schema, threshold)
        states = self.known_states(known, len(items), single)
        totals = dict.fromkeys(STAGES, 0.0)
        results: list[Prediction] = []
        for i in range(0, len(items), self.batch_size):
            chunk = slice(i, i + self.batch_size)
            preds, t = self._run_batch(items[chunk], boxes[chunk], top_k, thresholds, single,
                                       None if states is None else states[chunk])
            results.extend(preds)
            for k in STAGES:
                totals[k] += t[k]
        totals["total"] = sum(totals[k] for k in STAGES)
        self.last_timings = {**totals, "images": len(items),
                             "batches": -(-len(items) // self.batch_size)}
        return results[0] if single else results

    predict = __call__

    def known_states(self, known: Any, n: int, single: bool = False) -> np.ndarray | None:
        """``known`` (see __call__) -> (n, A) float32 of +1 present / -1 absent / 0 unknown."""
        if known is None:
            return None
        if "known" not in self.extra_inputs:
            raise BadInput(f"known= was given, but model {self.path.name!r} takes no attribute states "
                           f"(its inputs: {self.backend.input_names}); use an m2fashion model")
        per_image = [known] * n if isinstance(known, Mapping) else list(known)
        if len(per_image) != n:
            raise BadInput(f"{len(per_image)} known= dicts given for {n} images; give one dict "
                           "(for all) or one per image")
        states = np.zeros((n, len(self._attr_names)), np.float32)
        for i, d in enumerate(per_image):
            for name, value in (d or {}).items():
                if name not in self._attr_index:
                    raise unknown_name("attribute", name, self._attr_index)
                states[i, self._attr_index[name]] = 0.0 if value is None else (1.0 if value else -1.0)
        return states

    def infer(self, x: np.ndarray, known: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Raw model outputs for a preprocessed batch x: (N, 3, S, S) float32 (any N).

        known: (N, A) attribute states for a model with a "known" input (zeros when None).
        """
        return feed_batch(self.backend, x, self.input_name, self.extra_inputs, self.fixed_batch,
                          len(self._attr_names), known)

    def to_predictions(self, outputs: Mapping[str, np.ndarray], sources: Sequence[str],
                       shapes: Sequence[tuple], bboxes: Sequence | None = None, top_k: int = 5,
                       threshold: Threshold = None) -> list[Prediction]:
        """Raw ``infer`` outputs for N images -> N Predictions, for callers (streams) that run
        preprocessing and inference themselves. shapes: each image's (H, W[, C]), used to map
        landmarks back to image pixels; bboxes: the crop each image was preprocessed with."""
        post = postprocess(outputs, self.schema, top_k, resolve_thresholds(self.schema, threshold))
        boxes = list(bboxes) if bboxes is not None else [None] * len(sources)
        return [self._prediction(s, b, j, post, outputs, tuple(shape))
                for j, (s, shape, b) in enumerate(zip(sources, shapes, boxes))]

    def warmup(self, n: int = 1) -> None:
        """Run ``n`` inferences on zeros at the working batch size."""
        self.backend.warmup(n, batch=self.fixed_batch or 1)

    def info(self) -> dict:
        """What is loaded: file, backend, device, sizes, preprocessing (JSON-able)."""
        return {
            "path": str(self.path), "backend": self.backend.name, "device": self.backend.device,
            "model": (self.metadata or {}).get("model"), "batch_size": self.batch_size,
            "num_categories": self.schema.num_categories, "num_attributes": self.schema.num_attributes,
            "outputs": self.backend.output_names, "preprocess": self.preprocess_config.to_dict(),
        }

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Predictor({str(self.path)!r}, backend={self.backend.name!r}, "
                f"device={self.backend.device!r}, categories={self.schema.num_categories}, "
                f"attributes={self.schema.num_attributes})")

    # ------------------------------------------------------------------ internals
    def _run_batch(self, items: list, boxes: list, top_k: int, thresholds: np.ndarray,
                   raise_errors: bool, known: np.ndarray | None = None
                   ) -> tuple[list[Prediction], dict]:
        t0 = time.perf_counter()
        s = self.preprocess_config.input_size
        batch = np.empty((len(items), 3, s, s), np.float32)
        preds: list[Prediction | None] = [None] * len(items)
        good: list[int] = []
        shapes: dict[int, tuple] = {}
        for i, (src, box) in enumerate(zip(items, boxes)):
            try:
                img = load_image(src, self.max_pixels, self.float_scale)
                _prep.preprocess(img, self.preprocess_config, box, out=batch[len(good)])
                shapes[i] = img.shape
                good.append(i)
            except EdgeFashionError as e:
                if raise_errors:
                    raise
                preds[i] = Prediction(_source(src), bbox=_bbox(box), error=e)
            except OSError as e:  # permission denied, I/O error: same treatment, typed
                err = ImageDecodeError(f"cannot read image {describe(src)}: {e}")
                if raise_errors:
                    raise err from e
                preds[i] = Prediction(_source(src), bbox=_bbox(box), error=err)
        t1 = time.perf_counter()
        outputs = self.infer(batch[:len(good)], None if known is None else known[good]) if good else {}
        t2 = time.perf_counter()
        if good:
            post = postprocess(outputs, self.schema, top_k, thresholds)
            for j, i in enumerate(good):
                preds[i] = self._prediction(items[i], boxes[i], j, post, outputs, shapes[i])
        t3 = time.perf_counter()
        t = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3,
             "postprocess": (t3 - t2) * 1e3}
        share = {k: v / len(items) for k, v in t.items()}
        for p in preds:
            p.timings = dict(share)
        return preds, t

    def _prediction(self, src, box, j: int, post, outputs: Mapping[str, np.ndarray],
                    shape: tuple) -> Prediction:
        names = self.schema.category_names
        ranked = [(names[c], float(p)) for c, p in zip(post.top_indices[j], post.top_probs[j])]
        category = CategoryResult(ranked[0][0], ranked[0][1], int(post.top_indices[j, 0]), ranked,
                                  names, post.category_probs[j])
        scores = post.attribute_scores[j]
        attributes = {}
        for group, idx in self._groups.items():
            on = [a for a in idx if post.attribute_labels[j, a]]
            attributes[group] = [self._attr_names[a] for a in sorted(on, key=lambda a: -scores[a])]
        maps = {k: _map(v[j]) for k, v in outputs.items() if k.startswith(MAP_PREFIXES)}
        gates = {k: v for k, v in maps.items() if v is not None}
        return Prediction(
            source=_source(src), category=category, attributes=attributes,
            groups=self._group_answers(scores, category.index),
            scores=dict(zip(self._attr_names, scores.tolist())), gates=gates,
            landmarks=self._landmarks(outputs["landmarks"][j], shape, box) if "landmarks" in outputs
            else None,
            embedding=outputs["embedding"][j] if "embedding" in outputs else None,
            bbox=_bbox(box),
        )


    def _group_answers(self, scores: np.ndarray, top1: int) -> dict[str, tuple[str, float]]:
        return group_answers(self.schema, scores, top1, self._applicable)

    def _landmarks(self, points: np.ndarray, shape: tuple, box) -> dict[str, tuple]:
        """(K, 3) normalised model-input (x, y, conf) -> name -> (x, y, conf) in image pixels."""
        px = _prep.input_to_image(points, shape, self.preprocess_config, box)
        names = self.landmark_names if len(self.landmark_names) == len(px) else [
            f"landmark{k}" for k in range(len(px))]
        return {n: (float(p[0]), float(p[1]), float(p[2]) if len(p) > 2 else 1.0)
                for n, p in zip(names, px)}


def _is_single(x) -> bool:
    """One image (path, bytes, (H, W[, C]) array, or anything not iterable) rather than a list."""
    if isinstance(x, _SINGLE):
        return True
    if isinstance(x, np.ndarray):
        return x.ndim in (2, 3)
    return not isinstance(x, Iterable)


def _source(src) -> str:
    return str(src) if isinstance(src, (str, Path)) else describe(src)


def _map(v: np.ndarray) -> np.ndarray | None:
    """One image's gate output (1, h, w) or (h, w) -> (h, w) float32; None for anything else."""
    v = np.asarray(v)
    if v.ndim == 3 and v.shape[0] == 1:
        v = v[0]
    return v.astype(np.float32) if v.ndim == 2 else None


def _bbox(box) -> tuple | None:
    if box is None:
        return None
    try:
        return tuple(float(v) for v in box)
    except (TypeError, ValueError):
        return None
