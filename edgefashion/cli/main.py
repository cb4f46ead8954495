"""The ``edgefashion`` command: argparse subcommands, one module each, ``main(argv) -> int``."""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from edgefashion.errors import EdgeFashionError

# subcommand -> module under edgefashion.cli (each has add_parser(sub) and run(args) -> int)
COMMANDS = {
    "train": "train", "evaluate": "evaluate", "export": "export", "quantize": "quantize",
    "build": "build", "compare": "compare", "predict": "predict", "index": "index",
    "search": "search", "stream": "stream", "serve": "serve", "bench": "bench",
    "inspect": "inspect", "env": "env", "demo": "demo", "export-openvino": "export_openvino",
}
COMMANDS.update({"tag": "tag", "export-triton": "export_triton"})  # issue 13: catalog, fleet
COMMANDS["baseline"] = "baseline"  # issue 21: the linear-probe bar every model is shown beside
COMMANDS["calibrate"] = "calibrate"  # scores that mean what they say (training.temperature)


def build_parser() -> argparse.ArgumentParser:
    import edgefashion

    parser = argparse.ArgumentParser(
        prog="edgefashion", description="Fashion clothing analysis: train, export, predict.")
    parser.add_argument("--version", action="version", version=f"edgefashion {edgefashion.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        importlib.import_module(f"edgefashion.cli.{module}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except EdgeFashionError as e:
        if args.verbose:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
