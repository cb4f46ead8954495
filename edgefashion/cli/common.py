"""Helpers shared by the subcommands: the --runner flag, the --quiet flag, deprecated aliases, the
dataset layouts --layout accepts."""
from __future__ import annotations

from edgefashion.errors import BadInput


RUNNERS = ("local", "ray")
LAYOUTS = ["auto", "deepfashion", "fine_attr", "fashion-product", "folders"]  # data.splits' layouts


def add_runner_flag(p, help: str) -> None:
    """``--runner local|ray``: where the work runs (an execution runner, not a TensorRT engine).
    ``--engine`` is its deprecated alias (one release), hidden from --help."""
    import argparse

    p.add_argument("--runner", choices=RUNNERS, help=help + " (default local)")
    p.add_argument("--engine", dest="engine_alias", choices=RUNNERS, help=argparse.SUPPRESS)


def runner_of(args) -> str:
    """The runner the flags name; the deprecated ``--engine`` says so on stderr."""
    alias = getattr(args, "engine_alias", None)
    if alias is None:
        return args.runner or "local"
    deprecated(f"--engine {alias}", f"--runner {alias} (an engine is a TensorRT engine here)")
    if args.runner not in (None, alias):
        raise BadInput(f"--runner {args.runner} and --engine {alias} disagree; pass --runner only")
    return alias


def add_quiet_flag(p, help: str = "no progress bars or lines") -> None:
    """``-q / --quiet`` for every long-running command. ``--no-progress`` (train and tag once used it)
    is its deprecated alias for one release, hidden from --help."""
    import argparse

    p.add_argument("-q", "--quiet", action="store_true", help=help)
    p.add_argument("--no-progress", dest="no_progress_alias", action="store_true", help=argparse.SUPPRESS)


def quiet_of(args) -> bool:
    """True when --quiet (or the deprecated --no-progress, which says so on stderr) was given."""
    if getattr(args, "no_progress_alias", False):
        deprecated("--no-progress", "--quiet")
        return True
    return bool(args.quiet)


def deprecated(old: str, new: str) -> None:
    import sys

    print(f"warning: {old} is deprecated and goes in the next release; use {new}", file=sys.stderr)


def max_top1_drop_of(args) -> float | None:
    """--max-top1-drop POINTS, where a negative value means no top-1 drop rule (quantize, compare)."""
    return None if args.max_top1_drop < 0 else args.max_top1_drop
