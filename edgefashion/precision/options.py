"""``QuantizeOptions``: every setting of ``quantize_onnx`` in one frozen record.

    opts = QuantizeOptions(calib="photos/", targets="onnxruntime,openvino")
    quantize_onnx("m.onnx", None, "int8", opts)
    quantize_onnx("m.onnx", None, "int8", calib="photos/")   # the same: keywords fill the record

The CLI builds one from its flags, the benchmarks and QAT pass theirs along, and quantize.py's
steps read the fields they need instead of a row of positional arguments. A mistyped keyword is a
BadInput naming it, with the closest valid name.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgefashion.config_dict import reject_unknown_keys
from edgefashion.errors import BadInput
from edgefashion.precision import int8 as q8
from edgefashion.precision.fallback import FallbackSettings
from edgefashion.precision.gate import (DEFAULT_MAX_DROP, DEFAULT_MAX_TOP1_DROP, DEFAULT_MIN_AGREEMENT, GateRules,
                                        check_max_drop)
from edgefashion.runtime import selftest

FP16_ROUNDINGS = ("auto", "nearest", "calibrated")


@dataclass(frozen=True)
class QuantizeOptions:
    """How to make, gate and write a quantized file (see quantize_onnx for the steps).

    Calibration (int8; for fp16 the images choose the rounding):
      calib: images (folder, list file, glob or list of paths); required for int8.
      method: int8 calibration method; None: the model's default (quantize.int8_defaults).
      calib_size: calibration images used (the rest evaluate); calib_cache: "auto"
      (``<out>.calib.json``), a path, or None; calib_batch_size: default ``batch_size``;
      percentile: for the percentile method; keep_fp32: presets / patterns kept in fp32 (None: the
      model's default); quant_format "qdq"; activations "int8"; weight_bits 8 or 7 (None: 7 for
      OpenVINO on a CPU without VNNI); fp16_io: fp16 inputs / outputs; fp16_rounding: auto,
      nearest or calibrated.
    Evaluation and gate:
      eval_images / eval_size: the evaluation images (default: calibration images not used for
      calibration); targets: runtimes the candidate runs on (None: ``auto``'s backend plus ONNX
      Runtime); max_drop (top-3 points), min_agreement (None: 0.995; for QAT no rule),
      max_top1_drop (top-1 points on labelled images, 0.3; None: no rule; QAT limits the top-1
      drop to max_drop instead), or every limit in
      ``rules``; max_drop None reports but never refuses; fallback: int8 layer fallback (None or
      True: on with defaults, False: off, or FallbackSettings); self_test_images: the reference
      set embedded in the file.
    Running: batch_size, threads, progress (bars on stderr), report_path ("auto":
    ``<out>.report.json``, None: none).
    A ready candidate: an int8 Q/DQ file of the source made elsewhere (QAT) and ``qat``, its record.
    """

    calib: Any = None
    method: str | None = None
    calib_size: int | None = 256
    calib_cache: str | Path | None = "auto"
    calib_batch_size: int | None = None
    percentile: float = q8.DEFAULT_PERCENTILE
    keep_fp32: Sequence[str] | None = None
    quant_format: str = "qdq"
    activations: str = "int8"
    weight_bits: int | None = None
    fp16_io: bool = False
    fp16_rounding: str = "auto"
    eval_images: Any = None
    eval_size: int | None = 500
    targets: str | Sequence[str] | None = None
    max_drop: float | None = DEFAULT_MAX_DROP
    min_agreement: float | None = None
    max_top1_drop: float | None = DEFAULT_MAX_TOP1_DROP
    rules: GateRules | None = None
    fallback: FallbackSettings | bool | None = None
    self_test_images: int = selftest.DEFAULT_IMAGES
    batch_size: int = 8
    threads: int | None = None
    progress: bool = True
    report_path: str | Path | None = "auto"
    candidate: str | Path | None = None
    qat: dict | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_drop", check_max_drop(self.max_drop))
        object.__setattr__(self, "max_top1_drop", check_max_drop(self.max_top1_drop, "max_top1_drop", "no rule"))
        if self.fp16_rounding not in FP16_ROUNDINGS:
            raise BadInput(f"fp16 rounding {self.fp16_rounding!r} must be {', '.join(FP16_ROUNDINGS)}")
        if self.weight_bits is not None and int(self.weight_bits) not in q8.WEIGHT_BITS:
            raise BadInput(f"weight_bits {self.weight_bits!r} must be 8 or 7 (7: CPUs without VNNI)")
        if int(self.batch_size) < 1:
            raise BadInput(f"batch_size {self.batch_size!r} must be at least 1")

    def with_(self, **changes) -> QuantizeOptions:
        """A copy with ``changes``; an unknown name is a BadInput with the closest valid one."""
        reject_unknown_keys(QuantizeOptions, changes, "quantize options")
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def gate_rules(self) -> GateRules:
        """The limits the gate applies: ``rules`` when given, else max_drop / min_agreement."""
        if self.rules is not None:
            return self.rules
        agreement = DEFAULT_MIN_AGREEMENT if self.min_agreement is None else self.min_agreement
        return GateRules(DEFAULT_MAX_DROP if self.max_drop is None else self.max_drop, agreement,
                         max_top1_drop=self.max_top1_drop)

    @property
    def enforced(self) -> bool:
        """False when the gate only reports (max_drop None)."""
        return self.max_drop is not None

    @property
    def gate_max_drop(self) -> float | None:
        """The top-3 drop the gate enforces (``rules``'s when given), None when it only reports."""
        return self.gate_rules.max_drop if self.enforced else None

    @property
    def fallback_settings(self) -> FallbackSettings:
        if isinstance(self.fallback, FallbackSettings):
            return self.fallback
        return FallbackSettings(enabled=self.fallback is None or bool(self.fallback))
