"""Every TensorRT name the builder and backend use exists in NVIDIA's real Python bindings.

TensorRT cannot be installed here (no GPU, libraries from NVIDIA's index only), but its compiled
bindings are small PyPI wheels (``tensorrt-bindings`` 8.6.1, ``tensorrt-cu12-bindings`` 10.x,
``tensorrt-cu13-bindings`` 10.x / 11.x, about 1 MB each). pybind11 keeps every Python name as a C
string in the module, so a name is present when some NUL-terminated string of ``tensorrt.so`` ends
with it (the linker merges a string into a longer one it ends: "serialize" lives inside
"deserialize"), or when the package's ``__init__.py`` defines it (``__version__``, ``nptype``).
Downloads are cached in ~/.cache/edgefashion-trt-wheels (``EDGEFASHION_TRT_WHEELS``); offline, the
tests skip. TensorRT 8.5 (and 8.2 / 8.4, where only running engines is supported) has no such wheel:
its names are checked against the binding sources of the release branch when
``EDGEFASHION_TRT_SOURCE`` points to a TensorRT git clone (else those tests skip).
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

from edgefashion.engine import trt_compat
from edgefashion.engine.plan import select_build_path
from edgefashion.engine.trt_compat import (TRT_API_REMOVED, TRT_API_RUNTIME_LEGACY, TRT_API_USED,
                                           TRT_API_USED_8_5, features_for_version)

CACHE = Path(os.environ.get("EDGEFASHION_TRT_WHEELS", Path.home() / ".cache" / "edgefashion-trt-wheels"))
# One or two wheels per supported major: the Jetson-relevant and the newest (about 6 MB in all).
WHEELS = {
    "8": [("tensorrt-bindings", "8.6.1")],
    "10": [("tensorrt-cu12-bindings", "10.3.0"), ("tensorrt-cu12-bindings", "10.16.1.11")],
    "11": [("tensorrt-cu13-bindings", "11.0.0.114"), ("tensorrt-cu13-bindings", "11.4.0.106")],
}
CASES = [(major, pkg, ver) for major, wheels in WHEELS.items() for pkg, ver in wheels]
REPO = Path(__file__).resolve().parents[2]
TRT_SOURCES = [REPO / "edgefashion" / "runtime" / "backends" / "tensorrt.py",
               *sorted((REPO / "edgefashion" / "engine").glob("*.py"))]
# Variables that hold TensorRT objects in those files (a convention the AST check relies on).
TRT_OBJECTS = {"builder", "network", "config", "parser", "engine", "context", "profile", "cprofile",
               "runtime", "timing", "tensor", "error", "registry"}


class Names:
    """The names one bindings build defines: C strings of the module + its Python files."""

    def __init__(self, so: bytes, python: str) -> None:
        self.strings = {s.decode("latin-1") for s in so.split(b"\0") if s}
        self.python = python

    def in_binary(self, name: str) -> bool:
        return name in self.strings or any(s.endswith(name) for s in self.strings)

    def __contains__(self, dotted: str) -> bool:
        return all(self.in_binary(p) or re.search(rf"\b{re.escape(p)}\b", self.python)
                   for p in dotted.split("."))


def _download(pkg: str, version: str) -> Path:
    pattern = f"{pkg.replace('-', '_')}-{version}-*.whl"
    found = sorted(CACHE.glob(pattern))
    if found:
        return found[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
           "3.11", "--implementation", "cp", "--abi", "none", "--platform", "manylinux_2_28_x86_64",
           "--platform", "manylinux_2_17_x86_64", "-d", str(CACHE), f"{pkg}=={version}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"could not download {pkg}=={version} from PyPI ({e}); offline?")
    found = sorted(CACHE.glob(pattern))
    if proc.returncode != 0 or not found:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        pytest.skip(f"could not download {pkg}=={version} from PyPI (offline?): {last[0]}")
    return found[0]


@lru_cache(maxsize=None)
def wheel_names(pkg: str, version: str) -> Names:
    wheel = _download(pkg, version)
    assert wheel.stat().st_size < 20 * 2**20, f"{wheel.name} is unexpectedly large"
    with zipfile.ZipFile(wheel) as z:
        modules = [n for n in z.namelist() if re.match(r"tensorrt[^/]*/tensorrt[^/]*\.so$", n)]
        assert modules, f"no compiled tensorrt module in {wheel.name}: {z.namelist()[:10]}"
        python = "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()
                           if re.match(r"tensorrt[^/]*/__init__\.py$", n))  # the package's own Python API
        return Names(z.read(modules[0]), python)


@pytest.mark.parametrize("major, pkg, version", CASES, ids=[f"{p}-{v}" for _, p, v in CASES])
def test_every_name_we_use_exists_in_the_real_bindings(major, pkg, version):
    names = wheel_names(pkg, version)
    missing = [n for n in TRT_API_USED[major] if n not in names]
    assert not missing, f"{pkg} {version} lacks {missing}"


@pytest.mark.parametrize("major, pkg, version", CASES, ids=[f"{p}-{v}" for _, p, v in CASES])
def test_the_feature_table_matches_the_real_bindings(major, pkg, version):
    names = wheel_names(pkg, version)
    removed = [n for n in TRT_API_REMOVED[major] if names.in_binary(n)]
    assert not removed, f"{pkg} {version} still has {removed}: the feature table is wrong"
    f = features_for_version(version)
    assert f.calibrators == names.in_binary("IInt8EntropyCalibrator2")
    assert f.weak_typing == names.in_binary("FP16")
    assert f.strongly_typed == names.in_binary("STRONGLY_TYPED")
    assert f.progress_monitor == names.in_binary("IProgressMonitor")
    assert f.parser_node_names == names.in_binary("node_operator")
    assert f.registry_load_library == names.in_binary("load_library")
    assert f.named_tensors == names.in_binary("execute_async_v3")
    assert not f.explicit_batch_flag or names.in_binary("EXPLICIT_BATCH")


def _trt_usage(path: Path) -> tuple[set, set]:
    """(dotted names used on the ``trt`` module, attributes used on TensorRT objects) in one file."""
    dotted, attrs = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Attribute):
            continue
        chain, cur = [], node
        while isinstance(cur, ast.Attribute):
            chain.insert(0, cur.attr)
            cur = cur.value
        if not isinstance(cur, ast.Name):
            continue
        base = cur.id
        if base == "self" and chain:
            base, chain = chain[0], chain[1:]
        chain = [c for c in chain if not (c.startswith("__") and c.endswith("__") and c != "__version__")]
        if not chain:
            continue
        if base == "trt":
            dotted.add(".".join(chain))
        elif base in TRT_OBJECTS:
            attrs.add(chain[0])
    return dotted, attrs


def test_the_list_covers_every_tensorrt_attribute_the_code_uses():
    listed = {n for names in TRT_API_USED.values() for n in names}
    parts = {p for n in listed for p in n.split(".")}
    dotted, attrs = set(), set()
    for path in TRT_SOURCES:
        d, a = _trt_usage(path)
        dotted |= d
        attrs |= a
    assert "execute_async_v3" in attrs and "BuilderFlag.GPU_FALLBACK" in dotted  # the scan sees the code
    unlisted = sorted(d for d in dotted if d not in listed and not any(n.startswith(d + ".") for n in listed))
    unlisted += sorted(a for a in attrs if a not in parts)
    assert not unlisted, f"TensorRT names used but missing from trt_compat.TRT_API_USED: {unlisted}"


def test_every_flag_a_build_path_sets_is_listed_for_that_major():
    for version in ("8.5.2", "8.6.1", "10.3.0", "10.16.1", "11.0.0", "11.4.0"):
        f = features_for_version(version)
        major = "8" if f.major < 10 else str(f.major)
        for precision in ("auto", "fp32", "fp16", "int8"):
            for onnx in ("fp32", "fp16", "int8"):
                for calibrator in ("auto", "qdq", "entropy"):
                    try:
                        path = select_build_path(f, precision, onnx, calibrator, has_calib=True)
                    except Exception:  # noqa: BLE001 - impossible combinations are tested elsewhere
                        continue
                    for flag in path.network_flags:
                        assert f"NetworkDefinitionCreationFlag.{flag}" in TRT_API_USED[major], (version, flag)
                    for flag in path.builder_flags:
                        assert f"BuilderFlag.{flag}" in TRT_API_USED[major], (version, flag)
                    if path.calibrator:
                        assert "IInt8EntropyCalibrator2" in TRT_API_USED[major]


def _binding_sources(ref: str) -> Names:
    root = os.environ.get("EDGEFASHION_TRT_SOURCE")
    if not root:
        pytest.skip(f"TensorRT {ref} has no bindings wheel on PyPI; set EDGEFASHION_TRT_SOURCE to a clone of "
                    "github.com/NVIDIA/TensorRT to check its binding sources")
    files = ["python/src/infer/pyCore.cpp", "python/src/infer/pyFoundationalTypes.cpp",
             "python/src/infer/pyGraph.cpp", "python/src/infer/pyInt8.cpp", "python/src/infer/pyPlugin.cpp",
             "python/src/parsers/pyOnnx.cpp", "python/packaging/tensorrt/__init__.py"]
    git_dir = Path(root) / ".git" if (Path(root) / ".git").exists() else Path(root)
    texts = []
    for f in files:
        proc = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{ref}:{f}"], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot read {ref}:{f} from {root}: {proc.stderr.strip()}")
        texts.append(proc.stdout)
    cpp = "\n".join(t for f, t in zip(files, texts) if f.endswith(".cpp"))
    literals = "\0".join(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', cpp)).encode()
    return Names(literals, texts[-1])


def test_tensorrt_8_5_names_from_the_binding_sources():
    names = _binding_sources("release/8.5")
    missing = [n for n in TRT_API_USED_8_5 if n not in names]
    assert not missing, f"TensorRT 8.5 lacks {missing}"
    assert not names.in_binary("load_library")  # 8.5: plugins are opened with ctypes.CDLL
    assert not trt_compat.features_for_version("8.5.2").registry_load_library
    assert [n for n in TRT_API_REMOVED["8"] if names.in_binary(n)] == []


@pytest.mark.parametrize("ref", ["release/8.2", "release/8.4"])
def test_running_engines_on_tensorrt_8_2_and_8_4_uses_the_bindings_api(ref):
    names = _binding_sources(ref)
    missing = [n for n in TRT_API_RUNTIME_LEGACY if n not in names]
    assert not missing, f"TensorRT {ref} lacks {missing}"
    assert not names.in_binary("execute_async_v3")  # hence the bindings API there
    assert not trt_compat.features_for_version(ref.split("/")[1]).named_tensors
