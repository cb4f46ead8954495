"""``edgefashion quantize CKPT --qat --data DATA``: QAT (precision/qat.py) through the same gate as PTQ.

    result = quantize_qat("runs/train/best.pt", "data/clothing", max_minutes=10)

1. the gate targets are resolved first (an unknown or missing runtime fails before any training), and
   with them the weight bits (7 for OpenVINO on a CPU without VNNI, as for PTQ);
2. ``qat_finetune`` fine-tunes the checkpoint with fake quantization and writes the fp32 ONNX (beside
   the checkpoint, as ``edgefashion export`` names it) and the Q/DQ candidate;
3. ``quantize_onnx`` (QuantizeOptions.candidate) judges the candidate against that fp32 file on every
   target (default evaluation images: the data's validation split), runs its self-test and writes it only
   when everything passes, with the QAT record in its metadata under ``precision.qat``.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from edgefashion.errors import DatasetError
from edgefashion.precision import targets as tg
from edgefashion.precision.gate import DEFAULT_MAX_DROP, GateRules
from edgefashion.precision.options import QuantizeOptions


def quantize_qat(checkpoint: str | Path, data: str | Path, dst: str | Path | None = None,
                 options: QuantizeOptions | None = None, *, max_minutes: float,
                 epochs: int | None = None, lr: float | None = None, calib_images: int = 256,
                 batch_size: int = 16, seed: int = 0, log: Callable[[str], None] | None = None,
                 **settings) -> dict:
    """QAT ``checkpoint`` on ``data`` within ``max_minutes`` and gate the Q/DQ file. options /
    ``settings``: the gate's QuantizeOptions (targets, weight_bits, eval_images, max_drop, rules,
    threads, report_path...; precision/options.py); batch_size: QAT's training batch. Writes ``dst``
    (default ``<checkpoint stem>.qat.int8.onnx``) and ``<checkpoint stem>.onnx`` (fp32) beside the
    checkpoint; returns quantize_onnx's result with ``qat`` (the training record) added."""
    from edgefashion.precision.qat import DEFAULT_LR, load_for_qat, qat_finetune
    from edgefashion.precision.quantize import quantize_onnx

    opts = (options or QuantizeOptions()).with_(**settings)
    log = log or (lambda msg: None)
    load_for_qat(checkpoint)  # BadInput for an ONNX file, before anything else
    names = tg.parse_targets(opts.targets) or tg.default_targets("int8")
    tg.require_installed(names)
    bits = tg.default_weight_bits(names) if opts.weight_bits is None else int(opts.weight_bits)
    ckpt = Path(checkpoint)
    dst = Path(dst) if dst is not None else ckpt.with_name(f"{ckpt.stem}.qat.int8.onnx")
    fp32 = dst.with_name(f"{ckpt.stem}.onnx")
    if fp32.resolve() == dst.resolve():
        fp32 = dst.with_name(f"{ckpt.stem}.fp32.onnx")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=".edgefashion-qat-") as tmp:
        made = qat_finetune(ckpt, data, tmp, max_minutes=max_minutes, epochs=epochs,
                            lr=DEFAULT_LR if lr is None else lr, calib_images=calib_images,
                            batch_size=batch_size, weight_bits=bits, seed=seed, threads=opts.threads,
                            progress=opts.progress, log=log)
        shutil.move(made["fp32_onnx"], fp32)
        log(f"wrote the fp32 reference {fp32}")
        result = quantize_onnx(fp32, dst, "int8", opts.with_(
            candidate=made["int8_onnx"], targets=names, weight_bits=bits, qat=made["qat"],
            eval_images=opts.eval_images or _val_images(data), rules=opts.rules or qat_rules(opts)),
            log=log)
    return result


def qat_rules(opts: QuantizeOptions) -> GateRules:
    """QAT's gate: the fine-tuned weights answer differently from the fp32 model by design, so top-1
    agreement is reported, not required (unless min_agreement says otherwise), and the top-1
    accuracy may drop at most ``max_drop`` points; the top-3 drop and output bounds stay."""
    drop = DEFAULT_MAX_DROP if opts.max_drop is None else opts.max_drop
    return GateRules(drop, opts.min_agreement or 0.0, max_top1_drop=drop, top1_drop_without_labels=True)


def _val_images(data: str | Path) -> list[Path]:
    """The validation split's image paths (the evaluation images QAT did not train on)."""
    from edgefashion.data.splits import load_split

    _, samples = load_split(data, "val")
    if not samples:
        raise DatasetError(f"{str(data)!r} has no validation images to gate the QAT model on; "
                           "pass --eval DIR_OR_LIST")
    return [Path(s.path) for s in samples]
