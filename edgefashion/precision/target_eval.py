"""Run a quantized candidate on every gate target and judge each against the fp32 reference.

    images = EvalImages.load(paths, prep, schema)            # decoded and preprocessed once
    ref = run_outputs(fp32_path, "onnxruntime", images)
    per_target = evaluate_targets(ref, cand_path, ["openvino", "onnxruntime"], images, schema, rules)

The reference is the fp32 file on ONNX Runtime (the answers the model was validated with); each target
runs the candidate. Every report carries its own "gate" section; the candidate passes when every
target's does (``all_passed``). The images are kept preprocessed in memory so the layer fallback can
re-evaluate a candidate many times without decoding them again.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefashion.precision import calibration as cal
from edgefashion.precision.accuracy import accuracy_report, collect_outputs
from edgefashion.precision.gate import GateRules, gate
from edgefashion.precision.targets import backend_spec


@dataclass
class EvalImages:
    """Preprocessed evaluation batches, their category labels (or None) and where they came from."""

    batches: list[np.ndarray]
    labels: np.ndarray | None

    @property
    def num_images(self) -> int:
        return sum(len(b) for b in self.batches)

    @classmethod
    def load(cls, paths: Sequence, prep, schema, batch_size: int = 8, progress=None) -> "EvalImages":
        batches = []
        for x in cal.CalibrationImages(list(paths), prep, batch_size):
            batches.append(np.ascontiguousarray(x))
            if progress is not None:
                progress.update(len(x))
        labels = cal.folder_labels(list(paths), schema.category_names) if schema else None
        return cls(batches, labels)

    def head(self, n: int) -> "EvalImages":
        """The first ``n`` images (whole batches): the fallback ranks layers on these."""
        out, count = [], 0
        for b in self.batches:
            if count >= n:
                break
            out.append(b)
            count += len(b)
        return EvalImages(out, None if self.labels is None else self.labels[:count])


# ONNX -> engine for the "tensorrt" target: handed in by the caller (the CLI passes the engine
# builder), as the runtime's rebuild hook is, so precision/ never imports engine/.
ENGINE_BUILDER: list = []


def open_target(path: str | Path, target: str, threads: int | None = None):
    """A Predictor running ``path`` on ``target`` (its infer feeds extra inputs their neutral value).
    "tensorrt" builds an engine of the ONNX first, beside it, with the registered builder."""
    from edgefashion.errors import BackendUnavailable
    from edgefashion.runtime.backends.base import load_backend
    from edgefashion.runtime.predictor import Predictor

    if target == "tensorrt":
        if not ENGINE_BUILDER:
            raise BackendUnavailable("the tensorrt gate target needs an engine builder: run it from "
                                     "`edgefashion quantize --targets tensorrt` (or register "
                                     "edgefashion.engine.build_engine in target_eval.ENGINE_BUILDER)")
        engine = Path(path).with_suffix(".engine")
        if not engine.is_file() or engine.stat().st_mtime < Path(path).stat().st_mtime:
            ENGINE_BUILDER[0](path, engine)
        return Predictor(load_backend(engine, "tensorrt"))
    opts = {"threads": threads} if threads is not None else {}
    return Predictor(load_backend(path, backend_spec(target), **opts))


def run_outputs(path: str | Path, target: str, images: EvalImages, threads: int | None = None
                ) -> dict[str, np.ndarray]:
    """Every output of ``path`` on ``target`` over ``images``, concatenated."""
    p = open_target(path, target, threads)
    try:
        return collect_outputs([p.infer], images.batches)[0]
    finally:
        p.backend.close()


def interleaved_p50_ms(paths: Mapping[str, str | Path], target: str, x: np.ndarray,
                       threads: int | None = None, iters: int = 30, rounds: int = 3) -> dict[str, float]:
    """name -> p50 (ms) of each file on ``target``: every file opened once, then ``rounds`` rounds
    that time each in turn; the median of a file's round medians. Timed one after another, a slow
    spell of a shared machine lands on one file and turns the ratio; interleaved, it lands on every
    file of a round."""
    from edgefashion.timing import percentile, time_calls

    if rounds < 1 or iters < 1:
        raise ValueError(f"rounds ({rounds}) and iters ({iters}) must be >= 1")
    opened = {name: open_target(path, target, threads) for name, path in paths.items()}
    try:
        per_round = {name: [] for name in opened}
        for r in range(rounds):
            for name, p in opened.items():
                per_round[name].append(percentile(time_calls(lambda: p.infer(x), warmup=5 if r == 0 else 2,
                                                             iters=iters), 50))
        return {name: float(np.median(v)) for name, v in per_round.items()}
    finally:
        for p in opened.values():
            p.backend.close()


def evaluate_targets(ref: Mapping[str, np.ndarray], cand: str | Path, targets: Sequence[str],
                     images: EvalImages, schema, rules: GateRules, max_drop: float | None,
                     threads: int | None = None) -> dict[str, dict]:
    """target -> accuracy report of ``cand`` on it vs ``ref``, with its "gate" section."""
    out = {}
    for t in targets:
        report = accuracy_report(ref, run_outputs(cand, t, images, threads), images.labels, schema)
        gate(report, max_drop, rules)
        out[t] = report
    return out


def all_passed(per_target: Mapping[str, Mapping]) -> bool:
    return all(r["gate"]["passed"] for r in per_target.values())


def worst_target(per_target: Mapping[str, Mapping]) -> str:
    """The target furthest from fp32: lowest top-1 agreement, then lowest logits cosine mean."""
    def key(t):
        r = per_target[t]
        cos = r["outputs"].get("category_logits", {}).get("cosine_mean", 1.0)
        return (r["category"]["top1_agreement"], cos)
    return min(per_target, key=key)


def failures(per_target: Mapping[str, Mapping]) -> list[str]:
    """"target: rule" for every broken rule of every target."""
    return [f"{t}: {rule}" for t, r in per_target.items() for rule in r["gate"]["failed"]]
