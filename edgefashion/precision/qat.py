"""Quantization-aware training: a checkpoint -> fine-tuned with int8 fake quantization -> a Q/DQ ONNX.

    result = qat_finetune("runs/train/best.pt", "data/clothing", "runs/qat", max_minutes=20)
    result["int8_onnx"], result["fp32_onnx"], result["qat"]

For the models PTQ cannot bring within the accuracy budget. The library is NVIDIA ModelOpt
(precision/qat_modelopt.py): its quantizers sit where TensorRT's explicit quantization wants them, its
ONNX export writes the QuantizeLinear / DequantizeLinear pairs TensorRT, ONNX Runtime and OpenVINO read,
and it runs on a CPU. The steps:

1. the checkpoint (an ONNX file is refused: QAT needs the weights it was exported from) and the
   data's train / val splits, read as ``edgefashion train`` reads them (data/splits.py);
2. quantizers on every Conv / Linear but the model's int8 keep-fp32 layers (``int8_defaults``, the
   ones PTQ keeps), calibrated (max) on ``calib_images`` training images: the PTQ starting point;
3. fine-tuning by the project's Trainer with the checkpoint's own loss and augmentation, at a small
   ``lr`` (cosine to the end of the time budget, checked every step), every batch norm in eval mode
   (the ranges were calibrated with their statistics); validation (fake-quant) after each epoch,
   and the best epoch kept;
4. the fp32 ONNX of the checkpoint (``export_onnx``: its metadata and self-test set) and the Q/DQ
   ONNX of the QAT model beside it: same inputs and outputs, the fp32 file's metadata with
   "precision" (int8, method "qat") and a "qat" record (library, version, epochs, minutes, lr, history).

The accuracy gate (precision/gate.py) is the caller's: this module makes the candidate.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from edgefashion.data.splits import subsample
from edgefashion.errors import BadInput, DatasetError, ModelFileError
from edgefashion.precision import qat_modelopt as qm
from edgefashion.training.trainer import Trainer, freeze_batch_norms

# ~1 % of the fine-tuning recipe's peak lr (training/recipe.py), cosine-annealed: NVIDIA's QAT advice
DEFAULT_LR = 1e-5
MAX_EPOCHS = 1000  # "as many as the time budget allows"
# The export's check of the Q/DQ file against the fake-quant model it came from (every output, as a
# fraction of the logits' scale; top-1 must agree on every check image): ONNX Runtime computes the same
# function in fp32, but where an int8 activation lies at half a step the other kernel order can round
# it the other way, which moved logits by up to 0.4 % and the normalised maps by up to 0.14 (a 2 x 2
# cam, with normalise_cam's earlier 1e-3 floor; now at most about 2 x error / 0.1) on the tiny test
# model (tests/precision/test_qat.py). 0.25 is the int8 self-test's bound on
# maps (runtime/selftest.py); a wrong scale, axis or zero point breaks the top-1 agreement.
EXPORT_TOLERANCE = 0.25
NOT_A_CHECKPOINT = "QAT needs the PyTorch checkpoint (best.pt) the ONNX was exported from"


def qat_finetune(checkpoint: str | Path, data: str | Path, out_dir: str | Path, *, max_minutes: float,
                 epochs: int | None = None, max_steps: int | None = None, lr: float = DEFAULT_LR,
                 calib_images: int = 256, batch_size: int = 16, val: str | Path | None = None,
                 keep_fp32: Sequence[str] | None = None, weight_bits: int = 8, seed: int = 0,
                 threads: int | None = None, progress: bool = True,
                 log: Callable[[str], None] = print) -> dict:
    """Fine-tune ``checkpoint`` with int8 fake quantization on ``data`` (a dataset root, any layout
    ``edgefashion train`` reads; ``val`` another root for validation) within ``max_minutes``; write
    ``out_dir/model.onnx`` (fp32) and ``out_dir/model.qat.int8.onnx`` (Q/DQ).

    epochs / max_steps: stop earlier than the budget; keep_fp32: presets / globs of modules (default
    the model's int8 defaults); weight_bits: 8, or 7 for OpenVINO on a CPU without VNNI.
    -> {"fp32_onnx": path, "int8_onnx": path, "qat": the record embedded in the Q/DQ file,
    "model": the fake-quant PyTorch model the Q/DQ file was exported from (eval mode)}.
    """
    start = time.monotonic()
    if max_minutes is None or not max_minutes > 0:
        raise BadInput(f"max_minutes {max_minutes} must be > 0")
    if lr <= 0 or calib_images < 1 or batch_size < 1:
        raise BadInput(f"lr {lr} must be > 0, calib_images {calib_images} and batch_size {batch_size} >= 1")
    model, info = load_for_qat(checkpoint)
    train, val_samples = _samples(data, val, info["schema"])
    version = qm.modelopt()[1]  # BackendUnavailable before any work when ModelOpt is missing
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    from edgefashion.models import load_checkpoint, read_checkpoint
    from edgefashion.precision.quantize import int8_defaults

    raw, prep, schema = info["raw"], info["preprocess"], info["schema"]
    keep = list(int8_defaults({"model": raw["model"], "model_config": raw["model_config"]})["keep_fp32"]
                if keep_fp32 is None else keep_fp32)
    calib = subsample(train, calib_images, seed)
    log(f"calibrating int8 ranges (max) on {len(calib)} training images; fp32: {', '.join(keep) or 'none'}")
    placed = qm.insert_quantizers(model, keep, _batches(calib, prep, batch_size), weight_bits)
    top1 = {"fp32": _val_top1(load_checkpoint(checkpoint)[0], val_samples, info, batch_size),
            "calibrated": _val_top1(model, val_samples, info, batch_size)}
    log(f"val top-1: fp32 {top1['fp32']}, int8 ranges before QAT {top1['calibrated']}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".edgefashion-qat-") as tmp:
        left = max(max_minutes - (time.monotonic() - start) / 60.0, 1e-3)  # at least one step
        cfg = _train_config(raw, lr, epochs, max_steps, left, batch_size, seed, threads, progress)
        summary = _QATTrainer(model, schema, prep, cfg, tmp).fit(train, val_samples)
        model.load_state_dict(read_checkpoint(Path(tmp) / "best.pt")["state_dict"])  # the best epoch
    top1["qat"] = _number(summary["best_category_top1"])
    record = {
        "library": qm.LIBRARY, "version": version, "checkpoint": str(checkpoint),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "calibration": {"images": len(calib), "algorithm": "max"}, "keep_fp32": keep,
        "fp32_modules": placed["kept"], "quantized_modules": len(placed["quantized"]),
        "weight_bits": weight_bits, "lr": lr, "epochs": summary["epochs"], "steps": summary["steps"],
        "stopped": summary["stopped"], "minutes": round((time.monotonic() - start) / 60.0, 2),
        "max_minutes": max_minutes,
        "weight_overshoot_clipped": round(qm.clip_weights_to_ranges(model, weight_bits), 6),
        "val_category_top1": top1, "best_epoch": summary["best_epoch"],
        "history": [_brief(r) for r in summary["history"]],
    }
    log(f"QAT: {record['epochs']} epochs, {record['steps']} steps in {record['minutes']} min "
        f"({record['stopped']}); val top-1 of the best epoch {top1['qat']}")
    fp32_path, int8_path = _export(load_checkpoint(checkpoint)[0], model, schema, prep,
                                   val_samples or train, out_dir, record)
    log(f"wrote {fp32_path} and {int8_path}")
    return {"fp32_onnx": str(fp32_path), "int8_onnx": str(int8_path), "qat": record, "model": model}


def load_for_qat(checkpoint: str | Path):
    """-> load_checkpoint's (model, info); BadInput for an ONNX file or anything not a checkpoint."""
    from edgefashion.models import load_checkpoint

    path = Path(checkpoint)
    if path.suffix.lower() == ".onnx" or _is_onnx(path):
        raise BadInput(f"{str(path)!r} is an ONNX model; {NOT_A_CHECKPOINT} "
                       "(`edgefashion train` writes it, e.g. runs/train/best.pt)")
    try:
        return load_checkpoint(path)
    except ModelFileError as e:
        raise BadInput(f"{e}; {NOT_A_CHECKPOINT}") from e


def _is_onnx(path: Path) -> bool:
    """An ONNX protobuf starts with field 1 (ir_version, varint): byte 0x08; a torch zip with 'PK'."""
    try:
        with open(path, "rb") as f:
            return f.read(1) == b"\x08"
    except OSError:
        return False


def _samples(data, val, schema) -> tuple[list, list]:
    """The train split of ``data`` and the val split of ``val`` (default ``data``'s, none if it has
    none), labelled with the checkpoint's schema."""
    from edgefashion.data.splits import load_split

    got, train = load_split(data, "train", schema=schema)
    if list(got.category_names) != list(schema.category_names) or got.num_attributes != schema.num_attributes:
        raise BadInput(f"{str(data)!r} has {got.num_categories} categories and {got.num_attributes} "
                       f"attributes, the checkpoint {schema.num_categories} and {schema.num_attributes} "
                       "(or other names); QAT needs the data the model was trained on")
    if not train:
        raise BadInput(f"{str(data)!r} has no training images")
    try:
        _, val_samples = load_split(val or data, "val", schema=schema)
    except DatasetError:
        val_samples = []
    same = {s.path for s in train}
    return train, [s for s in val_samples if s.path not in same]


def _batches(samples: Sequence, prep, batch_size: int) -> list[torch.Tensor]:
    """The samples preprocessed as for validation (no augmentation): (N, 3, S, S) batches."""
    from edgefashion.data import GarmentDataset

    ds = GarmentDataset(samples, prep, train=False)
    images = [np.asarray(ds[i]["image"]) for i in range(len(ds))]
    return [torch.from_numpy(np.stack(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]


def _train_config(raw: dict, lr: float, epochs: int | None, max_steps: int | None, minutes: float,
                  batch_size: int, seed: int, threads: int | None, progress: bool):
    """The checkpoint's training config (loss, augmentation, optimizer) with QAT's schedule: one
    lr for every parameter, no warm-up, cosine to the end of the budget; no head fit, no EMA, no
    temperature fit."""
    from edgefashion.training.config import TrainConfig

    base = TrainConfig.from_dict((raw.get("train_state") or {}).get("config") or {}).to_dict()
    base.update(lr=lr, epochs=int(epochs or MAX_EPOCHS), max_steps=max_steps, max_minutes=minutes,
                schedule="cosine", warmup=0.0, min_lr_ratio=0.0, backbone_lr_mult=1.0, layer_decay=0.0,
                freeze_layers=0, head_epochs=0, ema=0.0, freeze_bn=True, batch_size=batch_size,
                temperature=False,  # the int8 file keeps the checkpoint's schema and temperatures
                seed=seed, threads=threads, progress=progress, num_workers=0, device="cpu")
    return TrainConfig.from_dict(base)


class _QATTrainer(Trainer):
    """The Trainer with every batch norm in eval mode, not only the backbone's: the int8 ranges were
    calibrated with the trained statistics."""

    def _prepare_batch(self, batch: dict) -> dict:
        freeze_batch_norms(self.model)
        return super()._prepare_batch(batch)


def _val_top1(model, samples: Sequence, info: dict, batch_size: int) -> float | None:
    """Category top-1 on the validation samples (None without any), in eval mode."""
    from edgefashion.training.evaluate import evaluate_model

    if not samples:
        return None
    report = evaluate_model(model, samples, info["schema"], info["preprocess"], batch_size=batch_size)
    return _number(report["category_top1"])


def _number(x) -> float | None:
    """JSON-safe: NaN (nothing to measure) -> None, else rounded."""
    return None if x is None or math.isnan(x) else round(float(x), 4)


def _brief(record: dict) -> dict:
    out = {k: record[k] for k in ("epoch", "step", "loss", "seconds", "lr") if k in record}
    if "val" in record:
        out["val_category_top1"] = _number(record["val"].get("category_top1"))
    return out


def _export(fp32_model, qat_model, schema, prep, samples: Sequence, out_dir: Path, record: dict):
    """-> (fp32 path, Q/DQ path); the Q/DQ file carries the fp32 file's metadata and self-test set."""
    import onnx

    from edgefashion.export.metadata import set_onnx_metadata
    from edgefashion.export.onnx import export_onnx
    from edgefashion.precision.calibration import model_digest
    from edgefashion.runtime.metadata import read_onnx_metadata

    check = _batches(list(samples)[:4], prep, 4)[0].numpy()
    fp32_path, int8_path = out_dir / "model.onnx", out_dir / "model.qat.int8.onnx"
    export_onnx(fp32_model, schema, prep, fp32_path, check_inputs=check, real_images=True,
                self_test_images=[s.path for s in list(samples)[:4]])
    meta = read_onnx_metadata(fp32_path)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".edgefashion-qat-") as tmp:
        raw = Path(tmp) / "qat.onnx"
        report = export_onnx(qat_model.eval(), schema, prep, raw, check_inputs=check, real_images=True,
                             tolerance=EXPORT_TOLERANCE, self_test=False)
        model = onnx.load(str(raw))
        record["folded_weights"] = qm.fold_weight_quantizers(model)
        precision = {"precision": "int8", "method": "qat", "quant_format": "qdq", "activations": "int8",
                     "weight_bits": record["weight_bits"], "keep_fp32": record["keep_fp32"],
                     "source": {"path": str(fp32_path), "sha256": model_digest(fp32_path)}}
        set_onnx_metadata(model, json.loads(json.dumps(
            {**meta, "export": {**report.to_dict(), "path": str(int8_path)}, "precision": precision,
             "qat": record}, default=str)))
        onnx.checker.check_model(model)
        final = Path(tmp) / "final.onnx"
        onnx.save(model, str(final))
        os.replace(final, int8_path)
    return fp32_path, int8_path
