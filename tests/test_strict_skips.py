"""CI's strict-skip rule (tests/conftest.py): with EDGEFASHION_STRICT_SKIPS=1 a skip for anything
but absent accelerator hardware fails the run; EDGEFASHION_STRICT_SKIPS_ALLOW names the skips CI
declared unavoidable. Run on a real pytest in a fresh process with the project's own conftest."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CASES = '''
import pytest

def test_hardware():
    pytest.skip("needs an NVIDIA GPU (torch.cuda.is_available() is False)")

def test_missing_data():
    pytest.skip("real data /nowhere not found; set EDGEFASHION_DATA")

def test_browser():
    pytest.skip("/usr/bin/chromium not found (apt-get install chromium)")

def test_runs():
    assert True
'''


def run_cases(tmp_path: Path, **env: str) -> dict[str, str]:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_cases.py").write_text(CASES)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGEFASHION_STRICT_SKIPS")}
    out = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider",
                          str(tmp_path / "test_cases.py")], cwd=tmp_path, capture_output=True,
                         text=True, env={**clean, **env}, timeout=120)
    outcomes = {}
    for line in out.stdout.splitlines():  # "test_cases.py::test_hardware SKIPPED (...) [ 25%]"
        if line.startswith("test_cases.py::test_"):
            name, outcome = line.split("::test_", 1)[1].split()[:2]
            outcomes[name] = outcome
    return outcomes


def test_without_strict_mode_every_skip_stands(tmp_path):
    assert run_cases(tmp_path) == {"hardware": "SKIPPED", "missing_data": "SKIPPED",
                                   "browser": "SKIPPED", "runs": "PASSED"}


def test_strict_mode_fails_all_but_hardware_skips(tmp_path):
    assert run_cases(tmp_path, EDGEFASHION_STRICT_SKIPS="1") == {
        "hardware": "SKIPPED", "missing_data": "FAILED", "browser": "FAILED", "runs": "PASSED"}


def test_strict_mode_allows_only_the_declared_skips(tmp_path):
    got = run_cases(tmp_path, EDGEFASHION_STRICT_SKIPS="1", EDGEFASHION_STRICT_SKIPS_ALLOW="chromium")
    assert got == {"hardware": "SKIPPED", "missing_data": "FAILED", "browser": "SKIPPED",
                   "runs": "PASSED"}
