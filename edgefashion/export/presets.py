"""Deployment presets: tested engine-build settings for a target device, as data.

    from edgefashion.export.presets import get_preset
    p = get_preset("orin-int8")            # also "jetson-orin-int8"
    p.build_options()                      # -> keyword arguments of edgefashion.engine.settings.BuildSettings
    edgefashion build model.onnx -o model.engine --preset orin-int8    (CLI wiring: the build command)

Precision lives in the ONNX (see DESIGN.md): "fp16" builds from an fp16 ONNX (or sets the FP16 flag on
TensorRT 8.x), "int8" from a Q/DQ ONNX calibrated on real photos (``edgefashion quantize``), except
on DLA, which takes implicit INT8 from the fp32 ONNX with the entropy calibrator. All numbers in the
notes are to be measured on the device; nothing here is a promise of speed.

``python -m edgefashion.export.presets`` prints them (``--json DIR`` writes one JSON file each). Presets
are plain data: export sits below the engine layer, so the build (``edgefashion build --preset``) turns
them into BuildSettings, never this module.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from edgefashion.config_dict import strict_from_dict
from edgefashion.errors import BadInput, unknown_name

PRECISIONS = ("fp16", "int8")
CALIBRATORS = ("auto", "qdq", "entropy")


@dataclass(frozen=True)
class DeployPreset:
    """Engine-build settings for one target. Field names follow ``edgefashion.engine.settings.BuildSettings``.

    batch: "MIN:OPT:MAX" of the optimization profile for the dynamic batch dimension.
    workspace_mb: builder scratch memory (Jetson memory is shared by CPU and GPU: keep it modest).
    dla: DLA core index, or None for the GPU. gpu_fallback: layers DLA cannot run go to the GPU.
    calibrator: int8 only — "qdq" (quantize the ONNX first), "entropy" (TensorRT's calibrator,
    TensorRT <= 10) or "auto". input_size: the model input the preset is meant for.
    """

    name: str
    description: str
    precision: str
    batch: str = "1:1:4"
    input_size: int = 224
    workspace_mb: int = 1024
    dla: int | None = None
    gpu_fallback: bool = True
    calibrator: str = "auto"
    calib_max: int = 512
    max_drop: float = 0.5
    timing_cache: bool = True
    min_tensorrt: str = "8.5"
    devices: tuple[str, ...] = ("Jetson AGX Orin", "Jetson Orin NX", "Jetson Orin Nano")
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "devices", tuple(self.devices))
        object.__setattr__(self, "notes", tuple(self.notes))
        if self.precision not in PRECISIONS:
            raise BadInput(f"preset {self.name!r}: precision {self.precision!r} must be one of "
                           f"{', '.join(PRECISIONS)} (Jetson presets do not build fp32 engines)")
        if self.calibrator not in CALIBRATORS:
            raise BadInput(f"preset {self.name!r}: calibrator {self.calibrator!r} must be one of "
                           f"{', '.join(CALIBRATORS)}")
        lo, opt, hi = _batch(self.name, self.batch)
        if self.dla is not None and not lo == opt == hi:
            raise BadInput(f"preset {self.name!r}: DLA has no dynamic shapes, so batch must be fixed "
                           f"(min = opt = max), not {self.batch!r}")
        if self.dla is not None and self.dla < 0:
            raise BadInput(f"preset {self.name!r}: dla={self.dla} must be a core index >= 0 or None")
        if int(self.input_size) < 8 or int(self.workspace_mb) < 1:
            raise BadInput(f"preset {self.name!r}: input_size / workspace_mb must be positive")

    @property
    def batch_range(self) -> tuple[int, int, int]:
        return _batch(self.name, self.batch)

    def profile_shapes(self, input_name: str = "image") -> dict[str, tuple]:
        """{input: {"min", "opt", "max"} (N, 3, S, S)} for the preset's batch range and input size."""
        s = int(self.input_size)
        lo, opt, hi = self.batch_range
        return {input_name: {"min": (lo, 3, s, s), "opt": (opt, 3, s, s), "max": (hi, 3, s, s)}}

    def build_options(self) -> dict:
        """Keyword arguments for ``edgefashion.engine.settings.BuildSettings`` (besides onnx/output)."""
        opts = {"precision": self.precision, "batch": self.batch, "workspace_mb": int(self.workspace_mb),
                "dla": self.dla, "max_drop": float(self.max_drop)}
        if self.precision == "int8":
            opts.update(calibrator=self.calibrator, calib_max=int(self.calib_max))
        return opts

    def matches_input(self, size: int) -> bool:
        return int(size) == int(self.input_size)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["devices"], d["notes"] = list(self.devices), list(self.notes)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "DeployPreset":
        return strict_from_dict(cls, d, "preset fields")


def _batch(name: str, text: str) -> tuple[int, int, int]:
    try:
        parts = [int(p) for p in str(text).split(":")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 3
    if len(parts) != 3 or min(parts) < 1 or not parts[0] <= parts[1] <= parts[2]:
        raise BadInput(f"preset {name!r}: batch {text!r} must be MIN:OPT:MAX with 1 <= MIN <= OPT <= MAX")
    return parts[0], parts[1], parts[2]


_COMMON = (
    "Build the engine on the Jetson itself: an engine is tied to the TensorRT version and the GPU.",
    ("Set the power mode first (sudo nvpmodel -m <id>; sudo jetson_clocks) and record it: latency "
     "depends on it. `edgefashion bench` records nvpmodel -q in its JSON."),
    "Jetson memory is shared by CPU and GPU; a larger workspace rarely helps a CNN this size.",
    "Expected latency: to be measured on the device (docs/jetson.md).",
)

PRESETS: dict[str, DeployPreset] = {p.name: p for p in (
    DeployPreset(
        name="orin-fp16", precision="fp16", batch="1:1:4", workspace_mb=1024,
        description="Jetson Orin (AGX / NX / Nano), GPU, fp16: the default; no calibration needed",
        notes=_COMMON + (
            ("From an fp16 ONNX (`edgefashion quantize model.onnx --precision fp16`) or an fp32 ONNX "
             "with the FP16 flag on TensorRT 8.x (JetPack 5)."),
            "Batch profile 1:1:4 tunes for single camera frames and allows small bursts up to 4.",
        )),
    DeployPreset(
        name="orin-int8", precision="int8", batch="1:1:4", workspace_mb=1024, calibrator="qdq",
        description="Jetson Orin (AGX / NX / Nano), GPU, int8 from a Q/DQ ONNX calibrated on real photos",
        notes=_COMMON + (
            ("Quantize first on any machine: `edgefashion quantize model.onnx --precision int8 "
             "--calib photos/` (the accuracy gate refuses a drop above max_drop points)."),
            "Q/DQ (explicit) int8 builds on TensorRT 8.5+ (JetPack 5) and 10.x (JetPack 6) alike.",
        )),
    DeployPreset(
        name="orin-int8-dla", precision="int8", batch="1", workspace_mb=512, dla=0,
        gpu_fallback=True, calibrator="entropy",
        devices=("Jetson AGX Orin", "Jetson Orin NX"),
        description="Jetson AGX Orin / Orin NX, DLA core 0 with GPU fallback, int8, batch 1",
        notes=_COMMON + (
            ("DLA: off in the other presets. Orin Nano has no DLA; AGX Orin and Orin NX 16GB have two "
             "cores (use dla=1 for a second engine), Orin NX 8GB one."),
            "DLA has no dynamic shapes: the profile is fixed at batch 1.",
            ("MSFAN layers beyond DLA's limits (e.g. global pooling over a whole feature map, resize) "
             "fall back to the GPU; each DLA<->GPU switch costs a copy. Use it to free the GPU or save power, and "
             "measure: it is often slower than the GPU preset."),
            ("DLA takes implicit INT8: build from the fp32 ONNX with the entropy calibrator "
             "(TensorRT <= 10, i.e. JetPack 5 and 6); TensorRT 8.x rejects Q/DQ networks on DLA."),
        )),
)}

ALIASES = {f"jetson-{name}": name for name in PRESETS}


def list_presets() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> DeployPreset:
    """The preset called ``name`` (or "jetson-" + name); UnknownName lists the valid ones."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in PRESETS:
        raise unknown_name("preset", str(name), PRESETS)
    return PRESETS[key]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgefashion.export.presets",
                                 description="print the deployment presets")
    ap.add_argument("--json", metavar="DIR", help="write <name>.json for each preset into DIR")
    args = ap.parse_args(argv)
    for p in PRESETS.values():
        print(f"{p.name:<16} {p.description}")
        print(f"{'':<16} build options: {p.build_options()}")
        if args.json:
            out = Path(args.json) / f"{p.name}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(p.to_dict(), indent=2) + "\n")
            print(f"{'':<16} wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
