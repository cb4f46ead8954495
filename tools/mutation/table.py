"""Print the markdown score table of the runs under build/mutation/ (for docs/mutation-report.md).

    python tools/mutation/table.py
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    rows, killed, tested = [], 0, 0
    for f in sorted((ROOT / "build" / "mutation").glob("*/summary.json")):
        s = json.loads(f.read_text())
        only = f" ({', '.join(p.split('.x_')[-1].split('__mutmut')[0] for p in s['only'])})" \
            if s.get("only") else ""
        c = s["counts"]
        rows.append(f"| `{s['module']}`{only} | {s['mutants']} | {s['killed']} | "
                    f"{c.get('survived', 0)} | {c.get('no tests', 0)} | {100 * s['score']:.1f} % |")
        killed, tested = killed + s["killed"], tested + s["tested"]
    print("| module | mutants | killed | survived | no tests | score |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if tested:
        print(f"| **all** | | **{killed}** | | | **{100 * killed / tested:.1f} %** |")


if __name__ == "__main__":
    main()
