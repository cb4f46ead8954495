"""The fallback's latency figures: every file timed in interleaved rounds on the target (real ONNX
Runtime, the real exported model), so a slow spell of the machine cannot land on one file only."""
from __future__ import annotations

import math

import pytest

from edgefashion.precision import target_eval as te


def test_every_file_timed_on_the_target(onnx_path, eval_photos, prep_cfg, monkeypatch):
    x = te.EvalImages.load(eval_photos[:1], prep_cfg, None).batches[0][:1]
    order = []
    opened = te.open_target

    def recording(path, target, threads=None):  # the real predictor, its calls recorded in order
        p = opened(path, target, threads)
        infer = p.infer

        def timed(batch):
            order.append(path.name)
            return infer(batch)

        p.infer = timed
        return p

    monkeypatch.setattr(te, "open_target", recording)
    second = onnx_path.parent / "copy.onnx"
    second.write_bytes(onnx_path.read_bytes())
    got = te.interleaved_p50_ms({"a": onnx_path, "b": second}, "onnxruntime", x, threads=1,
                                iters=3, rounds=2)
    assert set(got) == {"a", "b"} and all(math.isfinite(v) and v > 0 for v in got.values())
    # round 1: a (5 warm-up + 3), then b; round 2: a (2 + 3), then b: interleaved, not a then b
    a, b = onnx_path.name, second.name
    assert order == [a] * 8 + [b] * 8 + [a] * 5 + [b] * 5


def test_rounds_and_iters_must_be_positive(onnx_path, eval_photos, prep_cfg):
    x = te.EvalImages.load(eval_photos[:1], prep_cfg, None).batches[0][:1]
    with pytest.raises(ValueError, match="rounds \\(0\\)"):
        te.interleaved_p50_ms({"a": onnx_path}, "onnxruntime", x, rounds=0)
