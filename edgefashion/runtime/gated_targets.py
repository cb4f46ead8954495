"""Which runtimes a quantized file was gated on, and a warning when it runs on another.

``edgefashion quantize`` records the targets its accuracy gate passed on (precision/targets.py) in the
file's metadata under ``precision.targets``; the Predictor calls ``check_gated`` once per load.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path


class UngatedTargetWarning(UserWarning):
    """A quantized file runs on a backend / precision hint its accuracy gate did not check."""


_WARNED: set = set()  # (file, target) pairs already warned about in this process


def target_of(backend) -> str:
    """The target a loaded backend runs as: its name, plus the OpenVINO precision hint."""
    name = getattr(backend, "name", "")
    hint = getattr(backend, "precision_hint", None)
    if name == "openvino" and hint and hint != "f32":
        return f"openvino:{hint}"
    return name


def check_gated(metadata: Mapping | None, backend, warned: set | None = None) -> str | None:
    """Warn once per file and target (``warned``: the set of pairs seen, default this process's) if
    the artifact's gate recorded targets and ``backend`` is not one of them; returns the warning
    text, or None when nothing was said."""
    prec = (metadata or {}).get("precision")
    gated = prec.get("targets") if isinstance(prec, Mapping) else None
    if not gated:
        return None  # fp32, or a file from before targets were recorded: nothing to compare
    names = [t.get("target") if isinstance(t, Mapping) else str(t) for t in gated]
    here = target_of(backend)
    if here in names or getattr(backend, "name", None) == "pytorch":
        return None
    key = (str(getattr(backend, "path", "")), here)
    warned = _WARNED if warned is None else warned
    if key in warned:
        return None
    warned.add(key)
    msg = (f"{Path(str(key[0])).name or 'this model'} is a {prec.get('precision')} file whose accuracy "
           f"gate ran on {', '.join(names)}, not on {here}; its answers here were not checked against "
           f"fp32. Re-run `edgefashion quantize ... --targets {','.join([*names, here])}` or load it "
           f"with backend={names[0]!r}")
    warnings.warn(msg, UngatedTargetWarning, stacklevel=3)
    return msg
