"""Helpers of the tag tests: reading an output back, comparing rows, interrupting a run."""
from __future__ import annotations

from collections import Counter
from pathlib import Path


def rows_by_path(out: Path) -> dict[str, dict]:
    """The output's rows keyed by path; fails when any path occurs twice."""
    from edgefashion.tag import read_output

    rows = read_output(out).to_pylist()
    counts = Counter(r["path"] for r in rows)
    dup = [p for p, n in counts.items() if n > 1]
    assert not dup, f"{len(dup)} paths written more than once, e.g. {dup[:3]}"
    return {r["path"]: r for r in rows}


def assert_same_rows(got: dict[str, dict], want: list[dict]) -> None:
    """Every row identical (same labels, bit-identical scores, same errors), none missing."""
    assert set(got) == {r["path"] for r in want}
    for r in want:
        assert got[r["path"]] == r, r["path"]


class Interrupt(Exception):
    """Raised from on_part to stop a run part-way, as Ctrl-C or a crash would."""


def stop_after(parts: int):
    """An on_part callback that interrupts the run once ``parts`` parts are written."""
    seen = []

    def on_part(n: int, total: int) -> None:
        seen.append(n)
        if len(seen) >= parts:
            raise Interrupt(f"stopped after {len(seen)} parts ({total} rows)")

    return on_part


def check_resumed(out: Path, first_rows: int, want: list[dict], summary) -> None:
    """After an interrupted run and a resume: every image exactly once, each answer right."""
    assert summary.skipped == first_rows
    assert summary.written == len(want) - first_rows
    assert_same_rows(rows_by_path(out), want)


def error_type(row: dict) -> str:
    assert row["error"], row
    return row["error"].split(":", 1)[0]
