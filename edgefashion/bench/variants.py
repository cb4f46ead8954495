"""Which model files a benchmark runs: ``backend[:precision]`` names -> ready model files, or a skip
with its reason.

From a ``.pt`` checkpoint the suite can run PyTorch eager, export ONNX (fp32), quantize it to fp16 /
int8 (``edgefashion.precision.quantize_onnx``, when installed) and build TensorRT engines
(``edgefashion.engine``, when installed with TensorRT). From an ``.onnx`` only the last two steps
apply; an ``.engine`` runs as it is. OpenVINO runs the same ONNX files: ``openvino:fp32`` / ``:int8``
the fp32 / int8 Q/DQ file, ``openvino:bf16`` / ``:f16`` the fp32 file with that precision hint, and
``openvino:int8+bf16`` the int8 file with bf16 for the layers left in floating point. Optional parts are
imported lazily; a missing one becomes a
recorded skip, never a crash.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from edgefashion.errors import BadInput, EdgeFashionError

PRECISIONS = ("fp32", "fp16", "int8")
# OpenVINO precision hints (no file of their own): the variant's file precision, then the hint.
OV_PRECISIONS = {"fp32": ("fp32", None), "f32": ("fp32", None), "int8": ("int8", None),
                 "bf16": ("fp32", "bf16"), "f16": ("fp32", "f16"), "fp16": ("fp32", "f16"),
                 "int8+bf16": ("int8", "bf16"), "int8+f16": ("int8", "f16")}
BACKEND_NAMES = {"onnxruntime": "onnxruntime", "ort": "onnxruntime", "onnx": "onnxruntime",
                 "openvino": "openvino", "ov": "openvino",
                 "pytorch": "pytorch", "torch": "pytorch", "tensorrt": "tensorrt", "trt": "tensorrt"}
DEFAULTS = {".pt": "pytorch,onnxruntime", ".pth": "pytorch,onnxruntime", ".onnx": "onnxruntime",
            ".engine": "tensorrt", ".plan": "tensorrt"}
ALL = ("pytorch,onnxruntime:fp32,onnxruntime:fp16,onnxruntime:int8,openvino:fp32,openvino:bf16,"
       "openvino:int8,openvino:int8+bf16,tensorrt:fp16,tensorrt:int8")


@dataclass(frozen=True)
class Variant:
    """One (backend, precision) to benchmark: its model file, or why it is skipped."""

    backend: str
    precision: str
    path: str | None = None
    source: str = "given"         # given | exported | quantized | built
    skipped: str | None = None    # the reason, when it cannot run here

    @property
    def name(self) -> str:
        return f"{self.backend}-{self.precision}"

    @property
    def spec(self) -> str:
        """The backend as the Predictor takes it: "openvino:bf16" for a hinted OpenVINO variant."""
        hint = OV_PRECISIONS.get(self.precision, (None, None))[1] if self.backend == "openvino" else None
        return f"{self.backend}:{hint}" if hint else self.backend

    def to_dict(self) -> dict:
        return {"name": self.name, **asdict(self)}


def parse_variants(spec: str | Sequence[str] | None, model: str | Path) -> list[tuple[str, str]]:
    """``"onnxruntime,onnxruntime:int8,trt-fp16,openvino:int8+bf16"`` -> [(backend, precision), ...].

    None / "auto": the default for the model's suffix; "all": every backend and precision.
    """
    suffix = Path(model).suffix.lower()
    if spec is None or spec == "auto":
        spec = DEFAULTS.get(suffix, "onnxruntime")
    elif spec == "all":
        spec = ALL
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[tuple[str, str]] = []
    for item in (s.strip().lower() for s in items if s.strip()):
        name, _, prec = item.replace("-", ":").partition(":")
        if name not in BACKEND_NAMES:
            raise BadInput(f"unknown backend {name!r} in {item!r}; valid: "
                           f"{', '.join(sorted(set(BACKEND_NAMES.values())))} (optionally :fp32/:fp16/:int8; "
                           "openvino also :bf16, :int8+bf16)")
        prec = prec or "fp32"
        valid = OV_PRECISIONS if BACKEND_NAMES[name] == "openvino" else PRECISIONS
        if prec not in valid:
            raise BadInput(f"unknown precision {prec!r} in {item!r}; valid: {', '.join(valid)}")
        if BACKEND_NAMES[name] == "openvino":
            prec = {"f32": "fp32", "fp16": "f16"}.get(prec, prec)
        key = (BACKEND_NAMES[name], prec)
        if key not in out:
            out.append(key)
    if not out:
        raise BadInput(f"no backend named in {spec!r}; e.g. --backend onnxruntime,pytorch")
    return out


class VariantBuilder:
    """Makes the files the variants need, once each, under ``workdir``.

    calib: real images (paths) for int8 calibration. log: progress messages (e.g. print).
    """

    def __init__(self, model: str | Path, workdir: str | Path, calib: Sequence | None = None,
                 check_images: Sequence | None = None, max_batch: int = 8,
                 log: Callable[[str], None] = lambda s: None) -> None:
        self.model = Path(model)
        if not self.model.is_file():
            raise BadInput(f"model {str(self.model)!r} does not exist; pass a .pt, .onnx or .engine file")
        self.suffix = self.model.suffix.lower()
        if self.suffix not in DEFAULTS:
            raise BadInput(f"model {str(self.model)!r} must be a .pt/.pth checkpoint, .onnx or .engine")
        self.workdir = Path(workdir)
        self.calib = list(calib or [])
        self.check_images = list(check_images or [])[:8]
        self.log = log
        self.max_batch = int(max_batch)  # the engines' batch profile: 1:max:max
        self._onnx: dict[str, Variant] = {}

    def build(self, requested: Sequence[tuple[str, str]]) -> list[Variant]:
        out: list[Variant] = []
        for backend, precision in requested:
            v = self._one(backend, precision)
            if not any(v.path and (v.name, v.path) == (o.name, o.path) for o in out):
                out.append(v)  # a given engine answers every tensorrt:<p> request once
        return out

    def _one(self, backend: str, precision: str) -> Variant:
        try:
            if backend == "pytorch":
                return self._pytorch(precision)
            if backend == "onnxruntime":
                return self._onnx_variant(precision)
            if backend == "openvino":
                return self._openvino(precision)
            return self._tensorrt(precision)
        except (EdgeFashionError, ImportError, OSError) as e:
            return Variant(backend, precision, skipped=f"{type(e).__name__}: {e}")

    def _pytorch(self, precision: str) -> Variant:
        if self.suffix not in (".pt", ".pth"):
            return Variant("pytorch", precision, skipped=f"PyTorch eager needs a .pt checkpoint; "
                           f"the model given is {self.suffix}")
        if precision != "fp32":
            return Variant("pytorch", precision, skipped="PyTorch eager is benchmarked in fp32 only")
        return Variant("pytorch", "fp32", str(self.model))

    def _onnx_variant(self, precision: str) -> Variant:
        if precision in self._onnx:
            return self._onnx[precision]
        if precision == "fp32":
            v = self._fp32_onnx()
        else:
            fp32 = self._onnx_variant("fp32")
            if fp32.skipped:
                v = Variant("onnxruntime", precision, skipped=f"no fp32 ONNX to quantize: {fp32.skipped}")
            elif fp32.precision != "fp32":
                v = Variant("onnxruntime", precision, skipped=f"the given ONNX is already {fp32.precision}; "
                            "pass the fp32 ONNX to compare precisions")
            else:
                v = self._quantize(fp32, precision)
        self._onnx[precision] = v
        return v

    def _fp32_onnx(self) -> Variant:
        if self.suffix == ".onnx":  # an fp16 / int8 ONNX from edgefashion quantize says so inside
            return Variant("onnxruntime", _onnx_precision(self.model), str(self.model))
        if self.suffix in (".engine", ".plan"):
            return Variant("onnxruntime", "fp32", skipped="a TensorRT engine cannot be converted back to "
                           "ONNX; pass the .onnx (or the .pt) to compare ONNX Runtime")
        out = self.workdir / f"{self.model.stem}.onnx"
        if _fresh(out, self.model):
            return Variant("onnxruntime", "fp32", str(out), "exported")
        from edgefashion.export.onnx import check_inputs_from_images, export_onnx
        from edgefashion.models import load_checkpoint

        model, info = load_checkpoint(self.model)
        inputs = check_inputs_from_images(self.check_images, info["preprocess"]) if self.check_images else None
        self.log(f"exporting {self.model.name} to ONNX -> {out}")
        export_onnx(model, info["schema"], info["preprocess"], out, check_inputs=inputs,
                    real_images=bool(self.check_images))
        return Variant("onnxruntime", "fp32", str(out), "exported")

    def _quantize(self, fp32: Variant, precision: str) -> Variant:
        try:
            from edgefashion.precision import QuantizeOptions, quantize_onnx
        except ImportError as e:
            return Variant("onnxruntime", precision, skipped=f"edgefashion.precision is not available "
                           f"here ({e}); it makes the {precision} ONNX")
        src = Path(fp32.path)
        out = self.workdir / f"{src.stem}.{precision}.onnx"
        if _fresh(out, src):
            return Variant("onnxruntime", precision, str(out), "quantized")
        if precision == "int8" and not self.calib:
            return Variant("onnxruntime", precision, skipped="int8 needs calibration images "
                           "(--calib DIR, real photos)")
        self.log(f"quantizing {src.name} to {precision} -> {out}")
        # Latency only: the accuracy gate is off (max_drop=None) and a small evaluation set is used;
        # `edgefashion quantize` / `compare` judge accuracy. The report lands beside the file.
        evals = [str(p) for p in (self.check_images or self.calib)[:16]] or None
        options = QuantizeOptions(max_drop=None, eval_images=evals, eval_size=16, progress=False)
        if precision == "int8":
            options = options.with_(calib=[str(p) for p in self.calib], calib_size=len(self.calib))
        quantize_onnx(str(src), str(out), precision, options, log=self.log)
        return Variant("onnxruntime", precision, str(out), "quantized")

    def _openvino(self, precision: str) -> Variant:
        """The ONNX file of the variant's file precision (fp32 / int8), run with its hint."""
        from edgefashion.runtime.backends.base import get_backend

        if not get_backend("openvino").is_available():
            return Variant("openvino", precision, skipped="OpenVINO is not installed here "
                           "(pip install openvino, or 'edgefashion[openvino]')")
        want = OV_PRECISIONS[precision][0]
        src = self._onnx_variant(want)
        if src.skipped:
            return Variant("openvino", precision, skipped=f"no ONNX to run: {src.skipped}")
        if src.precision != want:
            return Variant("openvino", precision, skipped=f"the given ONNX is {src.precision}, this variant "
                           f"runs the {want} file; pass the fp32 ONNX (or the .pt) to compare precisions")
        return Variant("openvino", precision, src.path, src.source)

    def _tensorrt(self, precision: str) -> Variant:
        if self.suffix in (".engine", ".plan"):  # as built: its sidecar says in which precision
            return Variant("tensorrt", _engine_precision(self.model) or precision, str(self.model))
        from edgefashion.runtime.backends.base import get_backend

        if not get_backend("tensorrt").is_available():
            return Variant("tensorrt", precision, skipped="TensorRT is not installed here "
                           "(pip install tensorrt on an NVIDIA GPU machine; JetPack on Jetson)")
        build = _engine_builder()
        if build is None:
            return Variant("tensorrt", precision, skipped="no engine builder (edgefashion.engine."
                           "build_engine) in this edgefashion version")
        src = self._onnx_variant(precision)  # precision lives in the ONNX (fp16 casts, int8 Q/DQ)
        if src.skipped:
            return Variant("tensorrt", precision, skipped=f"no ONNX to build from: {src.skipped}")
        out = self.workdir / f"{Path(src.path).stem}.engine"
        if not _fresh(out, Path(src.path)):
            self.log(f"building TensorRT engine ({precision}) -> {out}")
            build(src.path, str(out), precision=precision, batch=f"1:{self.max_batch}:{self.max_batch}",
                  progress=False)
        return Variant("tensorrt", precision, str(out), "built")


def _onnx_precision(path: Path) -> str:
    from edgefashion.runtime.metadata import onnx_file_precision

    prec = onnx_file_precision(path)
    return prec if prec in PRECISIONS else "fp32"


def _engine_precision(path: Path) -> str | None:
    from edgefashion.runtime.metadata import read_sidecar

    try:
        side = read_sidecar(path) or {}
    except EdgeFashionError:
        return None
    prec = (side.get("engine") or {}).get("precision")
    return prec if prec in PRECISIONS else None


def _engine_builder():
    try:
        import edgefashion.engine as engine
    except ImportError:
        return None
    return getattr(engine, "build_engine", None)


def _fresh(out: Path, src: Path) -> bool:
    """An earlier run left ``out``, newer than its source: reuse it."""
    return out.is_file() and out.stat().st_mtime >= src.stat().st_mtime and os.path.getsize(out) > 0


def open_predictor(path: str | Path, backend: str, device: str | None = None,
                   threads: int | None = None, batch_size: int = 1):
    """A Predictor with ``threads`` applied where the backend has such a knob."""
    from edgefashion.runtime.predictor import Predictor

    opts: dict = {}
    if device:
        opts["device"] = device
    if threads and backend.split(":")[0] in ("onnxruntime", "openvino"):
        opts["threads"] = int(threads)
    if threads and backend == "pytorch":
        import torch

        torch.set_num_threads(int(threads))
    return Predictor(path, backend=backend, batch_size=batch_size, **opts)
