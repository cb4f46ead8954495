"""Markers become skips with a reason; real data is found through EDGEFASHION_DATA."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EDGEFASHION_DATA", REPO.parent / "shared" / "data"))


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _has_ext() -> bool:
    try:
        import edgefashion._C  # noqa: F401

        return True
    except ImportError:
        return False


def _has_trt() -> bool:
    try:
        import tensorrt  # noqa: F401

        return True
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    reasons = {
        "needs_cuda": (_has_cuda, "needs an NVIDIA GPU (torch.cuda.is_available() is False)"),
        "needs_ext": (_has_ext, "edgefashion._C is not built (pip install -e . with a C++ compiler)"),
        "needs_trt": (_has_trt, "TensorRT is not installed (pip install tensorrt, NVIDIA GPU)"),
        "needs_data": (DATA.is_dir, f"real data not found at {DATA}; set EDGEFASHION_DATA"),
    }
    cache: dict[str, bool] = {}
    for item in items:
        for mark, (check, reason) in reasons.items():
            if mark in item.keywords:
                if mark not in cache:
                    cache[mark] = bool(check())
                if not cache[mark]:
                    item.add_marker(pytest.mark.skip(reason=reason))


def data_dir(*parts: str) -> Path:
    """A folder under the real-data root, or a skip when it is absent."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data {p} not found; set EDGEFASHION_DATA to the shared data folder")
    return p


def fashion_product_subset(dst: Path, rows: int) -> Path:
    """``dst`` as a Fashion Product folder (styles.csv + images/) with the real set's first rows."""
    import csv
    import shutil

    src = data_dir("fashion-product-small")
    (dst / "images").mkdir(parents=True)
    with open(src / "styles.csv", newline="") as f:
        reader = csv.DictReader(f)
        kept = [r for _, r in zip(range(rows), reader)]
        fields = reader.fieldnames
    with open(dst / "styles.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(kept)
    for r in kept:
        shutil.copy(src / "images" / f"{r['id']}.jpg", dst / "images")
    return dst


@pytest.fixture(scope="session")
def clothing_small() -> Path:
    return data_dir("clothing-small")


@pytest.fixture(scope="session")
def deepfashion_meta() -> Path:
    return data_dir("deepfashion-meta")


@pytest.fixture(scope="session")
def real_photos(clothing_small) -> list[Path]:
    """A fixed, small, category-balanced list of real validation photos."""
    out = []
    for d in sorted((clothing_small / "validation").iterdir()):
        out.extend(sorted(d.glob("*.jpg"))[:2])
    return out


# ---------------------------------------------------------------------- strict skips (CI)
# A skip may only stand for hardware this machine does not have. With EDGEFASHION_STRICT_SKIPS=1
# (.ci/run sets it) any other skip -- missing real data, a package the extras install, a download
# cache -- is reported as a failure, so a CI run cannot turn green by skipping what it should run.
HARDWARE_SKIP_WORDS = ("GPU", "CUDA", "cuda", "TensorRT", "DLA", "Jetson", "NVIDIA")


def is_hardware_skip(reason: str) -> bool:
    """True when a skip's reason names absent (or present) accelerator hardware or its runtime."""
    return any(w in reason for w in HARDWARE_SKIP_WORDS)


def is_allowed_skip(reason: str) -> bool:
    """A skip CI declared it cannot avoid this run: EDGEFASHION_STRICT_SKIPS_ALLOW holds
    comma-separated words (.ci/run sets "chromium" only when installing it failed, and says so)."""
    words = [w.strip() for w in os.environ.get("EDGEFASHION_STRICT_SKIPS_ALLOW", "").split(",")]
    return any(w and w in reason for w in words)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and os.environ.get("EDGEFASHION_STRICT_SKIPS") == "1"):
        return
    if hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if not (is_hardware_skip(reason) or is_allowed_skip(reason)):
        report.outcome = "failed"
        report.longrepr = (f"skipped for something CI must provide, not for absent hardware "
                           f"(EDGEFASHION_STRICT_SKIPS=1): {reason}")
