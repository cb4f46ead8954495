"""Regenerate the results table in benchmarks/README.md from the JSON files in benchmarks/results/.

    python benchmarks/make_table.py              # rewrites the section between the bench-table markers
    python benchmarks/make_table.py --print      # only print the Markdown

Reads every results/*.json written by bench_backends.py / `edgefashion bench --json`
(format "edgefashion-bench") and the target files of bench_preprocess.py and
bench_predictor_overhead.py; other JSON files (kernel benchmarks) are left to their own tables.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(HERE / "results"), help="folder of JSON results")
    ap.add_argument("--readme", default=str(HERE / "README.md"))
    ap.add_argument("--print", action="store_true", help="print the table, do not write the README")
    args = ap.parse_args(argv)

    from edgefashion.bench.report import load_results, markdown_table, regenerate_readme, target_table

    files = sorted(Path(args.results).glob("*.json"))
    if args.print:
        results = [(p.name, d) for p, d in load_results(files)]
        print(markdown_table(results) if results else "(no latency results)")
        print()
        print(target_table(files))
        return 0
    body = regenerate_readme(args.readme, files, extra=target_table(files))
    print(body)
    print(f"wrote {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
