"""Helpers shared by the subcommands: the --runner flag."""
from __future__ import annotations

from edgefashion.errors import BadInput


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
