"""BuildSettings: everything ``edgefashion build`` was asked, recorded in the sidecar and replayable.

The sidecar keeps these settings as plain data (``to_dict``) next to the command that repeats them
(``to_command``): the runtime prints that command when an engine does not match the machine, without
knowing this class, and ``rebuild_engine`` turns the data back into settings to rebuild without the user.
"""
from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Mapping

from edgefashion.config_dict import strict_from_dict
from edgefashion.errors import BadInput
from edgefashion.runtime.tensorrt.profiles import BatchRange

PRECISIONS = ("auto", "fp32", "fp16", "int8")
CALIBRATORS = ("auto", "qdq", "entropy")  # auto: Q/DQ ONNX where possible, entropy calibrator on TensorRT 8.x


@dataclass(frozen=True)
class BuildSettings:
    """Arguments of one engine build (see ``edgefashion build --help``).

    precision: "auto" takes the ONNX's own precision (fp32 / fp16 / int8 Q/DQ).
    batch: "MIN:OPT:MAX" (or N); None = 1:8:32 for a dynamic-batch model, its batch for a static one.
    workspace_mb: builder scratch memory limit (None: TensorRT's default, the device memory).
    calibrator: for int8 from an fp32 ONNX: "qdq" (quantize the ONNX with edgefashion.precision, then
    build it), "entropy" (TensorRT's legacy IInt8EntropyCalibrator2; TensorRT <= 10) or "auto".
    """

    onnx: str
    output: str
    precision: str = "auto"
    batch: str | None = None
    workspace_mb: int | None = None
    timing_cache: str | None = None
    plugins: tuple = ()
    dla: int | None = None
    calib: str | None = None
    calib_cache: str | None = None
    calib_batch: int = 8
    calib_max: int = 512
    calibrator: str = "auto"
    check_images: str | None = None
    num_check: int = 64
    max_drop: float = 0.5

    def __post_init__(self) -> None:
        if not str(self.onnx):
            raise BadInput("the ONNX model path is empty")
        if self.precision not in PRECISIONS:
            raise BadInput(f"precision {self.precision!r} must be one of {', '.join(PRECISIONS)}")
        if self.calibrator not in CALIBRATORS:
            raise BadInput(f"calibrator {self.calibrator!r} must be one of {', '.join(CALIBRATORS)}")
        if self.batch is not None:
            object.__setattr__(self, "batch", str(BatchRange.parse(self.batch)))
        if isinstance(self.plugins, (str, Path)):
            object.__setattr__(self, "plugins", (str(self.plugins),))
        object.__setattr__(self, "plugins", tuple(str(p) for p in self.plugins))
        for name, low in (("workspace_mb", 1), ("dla", 0), ("calib_batch", 1), ("calib_max", 1),
                          ("num_check", 1)):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
                raise BadInput(f"{name}={v!r} must be a whole number >= {low}")
        if not float(self.max_drop) >= 0:
            raise BadInput(f"max_drop={self.max_drop!r} must be >= 0 (points of top-3 accuracy)")
        if self.dla is not None and self.precision == "fp32":
            raise BadInput("DLA cores run fp16 or int8 only; use --precision fp16 or int8 with --dla")
        if self.calibrator == "entropy" and not self.calib and not self.calib_cache:
            raise BadInput("the entropy calibrator needs calibration images (--calib DIR) or a "
                           "calibration cache (--calib-cache FILE)")

    @property
    def batch_range(self) -> BatchRange | None:
        return BatchRange.parse(self.batch) if self.batch else None

    def resolved(self) -> "BuildSettings":
        """The same settings with absolute paths (recorded in the sidecar so a rebuild works anywhere)."""
        def absolute(p):
            return None if p is None else str(Path(p).expanduser().resolve())

        return replace(self, onnx=absolute(self.onnx), output=absolute(self.output),
                       timing_cache=absolute(self.timing_cache), calib=absolute(self.calib),
                       calib_cache=absolute(self.calib_cache), check_images=absolute(self.check_images),
                       plugins=tuple(absolute(p) for p in self.plugins))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["plugins"] = list(self.plugins)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "BuildSettings":
        return strict_from_dict(cls, d, "build settings", convert={"plugins": tuple})

    def to_command(self, output: str | Path | None = None) -> str:
        """The ``edgefashion build ...`` command line that repeats this build (shell-quoted)."""
        args = ["edgefashion", "build", self.onnx, "-o", str(output or self.output)]
        if self.precision != "auto":
            args += ["--precision", self.precision]
        if self.batch:
            args += ["--batch", self.batch]
        options = [("--workspace", self.workspace_mb), ("--timing-cache", self.timing_cache),
                   ("--dla", self.dla), ("--calib", self.calib), ("--calib-cache", self.calib_cache),
                   ("--check-images", self.check_images)]
        for flag, value in options:
            if value is not None:
                args += [flag, str(value)]
        for p in self.plugins:
            args += ["--plugins", p]
        defaults = BuildSettings(onnx="x", output="y")
        for name, flag in (("calib_batch", "--calib-batch"), ("calib_max", "--calib-max"),
                           ("calibrator", "--calibrator"), ("num_check", "--num-check"),
                           ("max_drop", "--max-drop")):
            if getattr(self, name) != getattr(defaults, name):
                args += [flag, str(getattr(self, name))]
        return " ".join(shlex.quote(a) for a in args)
