"""Helpers shared by the subcommands: parsing key=value options; loading datasets by layout
(edgefashion.data.splits, re-exported here)."""
from __future__ import annotations

from edgefashion.data.splits import FOLDER_SPLITS, detect_layout, load_split, resolve_split  # noqa: F401
from edgefashion.errors import BadInput


def parse_options(items: list[str] | None) -> dict:
    """``["width=0.25", "stages=1,2,4", "batch_norm=true"]`` -> typed dict."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise BadInput(f"option {item!r} must look like key=value")
        key, value = item.split("=", 1)
        out[key.strip().replace("-", "_")] = _typed(value.strip())
    return out


def _typed(v: str):
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    if "," in v:
        return tuple(_typed(x) for x in v.split(",") if x)
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


RUNNERS = ("local", "ray")


def add_runner_flag(p, help: str) -> None:
    """``--runner local|ray``: where the work runs (an execution runner, not a TensorRT engine).
    ``--engine`` is its deprecated alias (one release), hidden from --help."""
    import argparse

    p.add_argument("--runner", choices=RUNNERS, help=help + " (default local)")
    p.add_argument("--engine", dest="engine_alias", choices=RUNNERS, help=argparse.SUPPRESS)


def runner_of(args) -> str:
    """The runner the flags name; the deprecated ``--engine`` says so on stderr."""
    import sys

    alias = getattr(args, "engine_alias", None)
    if alias is None:
        return args.runner or "local"
    print(f"warning: --engine {alias} is deprecated (an engine is a TensorRT engine here); use "
          f"--runner {alias}", file=sys.stderr)
    if args.runner not in (None, alias):
        raise BadInput(f"--runner {args.runner} and --engine {alias} disagree; pass --runner only")
    return alias
