"""Summarise one mutmut 3 run (run in its work folder): counts per status, the score, survivors.

    python tools/mutation/summary.py edgefashion/runtime/preprocess.py [MUTANT_GLOB ...]

Writes summary.json and survivors.txt (each surviving / untested mutant with its diff) next to the
run, and prints one line. Score = killed / all mutants: a mutant that no selected test executes
("no tests") counts as a survivor.
"""
from __future__ import annotations

import json
import fnmatch
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def _diff(name: str, module: str) -> str:
    """The mutant's diff, as ``mutmut show`` prints it (in this process: one start, not one per mutant)."""
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        return get_diff_for_mutant(name, path=module)
    except Exception:  # noqa: BLE001 - an internal API: fall back to the command
        return subprocess.run([str(Path(sys.executable).parent / "mutmut"), "show", name],
                              capture_output=True, text=True).stdout


def main(module: str, patterns: list[str]) -> None:
    meta = json.loads(Path("mutants", module + ".meta").read_text())
    codes = {k: v for k, v in meta["exit_code_by_key"].items()
             if not patterns or any(fnmatch.fnmatch(k, p) for p in patterns)}
    status = {name: status_by_exit_code[code] for name, code in codes.items()}
    counts = Counter(status.values())
    tested = len(status)
    killed = sum(n for s, n in counts.items() if s in KILLED)
    score = killed / tested if tested else 0.0
    left = sorted(n for n, s in status.items() if s not in KILLED)
    with open("survivors.txt", "w") as f:
        for name in left:
            f.write(f"## {name}: {status[name]}\n{_diff(name, module)}\n")
    summary = {"module": module, "only": patterns, "mutants": len(status), "counts": dict(counts), "killed": killed,
               "tested": tested, "score": round(score, 4), "survivors": left}
    Path("summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{module}: {killed}/{tested} killed = {100 * score:.1f} %  {dict(counts)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
