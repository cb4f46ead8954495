"""The accuracy gate: a precision step that loses more top-3 accuracy than the budget fails loudly."""
from __future__ import annotations

import math
from collections.abc import Mapping

from edgefashion.errors import BadInput, ExportError

DEFAULT_MAX_DROP = 0.5  # points of category top-3 accuracy


class AccuracyGateError(ExportError):
    """A quantized model lost more accuracy than ``max_drop`` allows; nothing was written.

    ``report`` holds the full accuracy report (with its "gate" section).
    """

    def __init__(self, message: str, report: Mapping | None = None) -> None:
        super().__init__(message)
        self.report = dict(report or {})


def check_max_drop(max_drop: float | None) -> float | None:
    if max_drop is None:
        return None
    value = float(max_drop)
    if not value >= 0:  # also rejects NaN
        raise BadInput(f"max_drop {max_drop!r} must be a number of points >= 0 (or None for no gate)")
    return value


def gate(report: dict, max_drop: float | None = DEFAULT_MAX_DROP) -> dict:
    """Add ``report["gate"]`` = {max_drop, drop_points, basis, passed}; returns that section.

    The drop is reference minus candidate category top-3 accuracy, in points, on labelled images
    when there are labels, else against the reference's own top-1 (see accuracy.py). ``max_drop``
    None records the drop without failing.
    """
    max_drop = check_max_drop(max_drop)
    cat = report["category"]
    ref, out = cat["reference"]["top3"], cat["candidate"]["top3"]
    drop = 0.0 if math.isnan(ref) or math.isnan(out) else 100.0 * (ref - out)  # NaN: nothing to compare
    basis = "labelled images" if cat["labels"].startswith("known") else "reference top-1 as label"
    section = {"metric": "category top-3 accuracy", "max_drop": max_drop, "drop_points": drop,
               "basis": basis, "passed": max_drop is None or drop <= max_drop + 1e-9}
    report["gate"] = section
    return section


def enforce(report: dict, what: str, max_drop: float | None = DEFAULT_MAX_DROP) -> dict:
    """``gate`` and raise AccuracyGateError naming ``what`` when it fails."""
    section = gate(report, max_drop)
    if not section["passed"]:
        raise AccuracyGateError(
            f"{what} loses {section['drop_points']:.2f} points of top-3 accuracy "
            f"({section['basis']}, {report['num_images']} images), more than --max-drop "
            f"{section['max_drop']:g}; nothing was written. Keep more layers in fp32 (--keep-fp32 "
            "gates first-conv heads), try another --calib-method, calibrate on more images, or "
            "raise --max-drop", report)
    return section
