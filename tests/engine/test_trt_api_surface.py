"""Every TensorRT name the builder and backend use exists, in its own class, in NVIDIA's real bindings.

TensorRT cannot run here (no GPU), but its Python bindings can be read: ``trt_bindings.py`` beside this
file says how (the real compiled module of the PyPI bindings wheels, imported against a stand-in for the
C entry points of libnvinfer; for TensorRT 8.5 / 8.4 / 8.2, which have no wheel, the pybind11
registrations of the binding sources). ``ICudaEngine.num_io_tensors`` is checked as a member of
``ICudaEngine``, not as a string somewhere in the module.

Input, stated so that a skip can never hide a failure:
- wheels: ``$EDGEFASHION_TRT_WHEELS`` when set (CI: prepared by ``python tests/engine/trt_bindings.py DIR``;
  a wheel missing there FAILS), else ``~/.cache/edgefashion-trt-wheels`` filled by ``pip download``
  (skips, saying so, when offline);
- sources: ``$EDGEFASHION_TRT_SOURCE``, a clone of github.com/NVIDIA/TensorRT (skips when unset).
"""
from __future__ import annotations

import ast
import os
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
from trt_bindings import (SOURCE_FILES, WHEELS, download, find_wheel, resolve_in_sources, resolve_names,
                          source_classes, wheel_folder)

from edgefashion.engine.plan import select_build_path
from edgefashion.engine.trt_compat import TRT_API_REMOVED, TRT_API_RUNTIME_LEGACY, TRT_API_USED, TRT_API_USED_8_5
from edgefashion.runtime.tensorrt import compat as trt_compat
from edgefashion.runtime.tensorrt.compat import features_for_version

CASES = [(major, pkg, ver) for major, wheels in WHEELS.items() for pkg, ver in wheels]
REPO = Path(__file__).resolve().parents[2]
TRT_SOURCES = [REPO / "edgefashion" / "runtime" / "backends" / "tensorrt.py",
               *sorted((REPO / "edgefashion" / "runtime" / "tensorrt").glob("*.py")),
               *sorted((REPO / "edgefashion" / "engine").glob("*.py"))]
# Variables that hold TensorRT objects in those files, and their class (a convention the AST check relies on).
TRT_OBJECTS = {"builder": "Builder", "network": "INetworkDefinition", "config": "IBuilderConfig",
               "parser": "OnnxParser", "engine": "ICudaEngine", "context": "IExecutionContext",
               "profile": "IOptimizationProfile", "cprofile": "IOptimizationProfile", "runtime": "Runtime",
               "timing": "ITimingCache", "tensor": "ITensor", "error": "ParserError", "registry": "IPluginRegistry",
               "logger": "Logger"}
# What each feature of the table is, as a name in its class.
FEATURE_NAMES = {
    "calibrators": "IInt8EntropyCalibrator2", "weak_typing": "BuilderFlag.FP16",
    "strongly_typed": "NetworkDefinitionCreationFlag.STRONGLY_TYPED", "progress_monitor": "IProgressMonitor",
    "parser_node_names": "ParserError.node_operator", "registry_load_library": "IPluginRegistry.load_library",
    "named_tensors": "IExecutionContext.execute_async_v3",
}
# Names that exist, but in another class than the one named: a module-wide substring search accepts them.
WRONG_CLASS = ["ICudaEngine.set_tensor_address", "IExecutionContext.get_tensor_name", "ICudaEngine.set_input_shape",
               "IBuilderConfig.load_library"]


def _wheel(pkg: str, version: str) -> Path:
    folder, strict = wheel_folder()
    found = find_wheel(folder, pkg, version)
    if found is None and strict:
        pytest.fail(f"{pkg}=={version} is not in $EDGEFASHION_TRT_WHEELS={folder}; prepare it with "
                    f"`python tests/engine/trt_bindings.py {folder}`")
    if found is None:
        try:
            proc = download(pkg, version, folder)
        except (OSError, subprocess.TimeoutExpired) as e:
            pytest.skip(f"{pkg}=={version} is not cached in {folder} and pip could not download it ({e})")
        found = find_wheel(folder, pkg, version)
        if found is None:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            pytest.skip(f"{pkg}=={version} is not cached in {folder} and pip could not download it: {last[0]}")
    return found


ALL_NAMES = sorted({n for names in TRT_API_USED.values() for n in names}
                   | {n for names in TRT_API_REMOVED.values() for n in names}
                   | set(FEATURE_NAMES.values()) | set(WRONG_CLASS) | {"NetworkDefinitionCreationFlag.EXPLICIT_BATCH"})


@lru_cache(maxsize=None)
def _resolved(pkg: str, version: str, workdir: str) -> dict:
    return resolve_names(_wheel(pkg, version), ALL_NAMES, Path(workdir))


@pytest.fixture(scope="session")
def bindings(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("trt_bindings"))
    return lambda pkg, version: _resolved(pkg, version, workdir)


@pytest.mark.parametrize("major, pkg, version", CASES, ids=[f"{p}-{v}" for _, p, v in CASES])
def test_every_name_we_use_exists_in_its_class_in_the_real_bindings(major, pkg, version, bindings):
    found = bindings(pkg, version)
    missing = [n for n in TRT_API_USED[major] if not found[n]]
    assert not missing, f"{pkg} {version} lacks {missing}"
    # the check is per class: these names exist, but not on the class named
    assert [n for n in WRONG_CLASS if found[n]] == []


@pytest.mark.parametrize("major, pkg, version", CASES, ids=[f"{p}-{v}" for _, p, v in CASES])
def test_the_feature_table_matches_the_real_bindings(major, pkg, version, bindings):
    found = bindings(pkg, version)
    removed = [n for n in TRT_API_REMOVED[major] if found[n]]
    assert not removed, f"{pkg} {version} still has {removed}: the feature table is wrong"
    f = features_for_version(version)
    for feature, name in FEATURE_NAMES.items():
        assert getattr(f, feature) == found[name], (feature, name)
    assert not f.explicit_batch_flag or found["NetworkDefinitionCreationFlag.EXPLICIT_BATCH"]


def _trt_usage(path: Path) -> tuple[set, set]:
    """(dotted names used on the ``trt`` module, "Class.attr" used on TensorRT objects) in one file."""
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
        while base in ("self", "e", "loaded") and chain:  # self.engine..., e.context (the loaded engine)
            base, chain = chain[0], chain[1:]
        chain = [c for c in chain if not (c.startswith("__") and c.endswith("__") and c != "__version__")]
        if not chain:
            continue
        if base == "trt":
            dotted.add(".".join(chain))
        elif base in TRT_OBJECTS:
            attrs.add(f"{TRT_OBJECTS[base]}.{chain[0]}")
    return dotted, attrs


def test_the_list_covers_every_tensorrt_attribute_the_code_uses():
    listed = {n for names in TRT_API_USED.values() for n in names}
    dotted, attrs = set(), set()
    for path in TRT_SOURCES:
        d, a = _trt_usage(path)
        dotted |= d
        attrs |= a
    # the scan sees the code, including the loader's DLA core and the shared logger
    assert {"IExecutionContext.execute_async_v3", "Runtime.DLA_core", "Logger.min_severity",
            "IPluginRegistry.load_library"} <= attrs and "BuilderFlag.GPU_FALLBACK" in dotted
    unlisted = sorted(d for d in dotted if d not in listed and not any(n.startswith(d + ".") for n in listed))
    unlisted += sorted(a for a in attrs if a not in listed)
    assert not unlisted, f"TensorRT names used but missing from trt_compat.TRT_API_USED (as Class.attr): {unlisted}"


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


def _binding_sources(ref: str):
    root = os.environ.get("EDGEFASHION_TRT_SOURCE")
    if not root:
        pytest.skip(f"TensorRT {ref} has no bindings wheel on PyPI; set EDGEFASHION_TRT_SOURCE to a clone of "
                    "github.com/NVIDIA/TensorRT (`python tests/engine/trt_bindings.py WHEELS --sources DIR` "
                    "prepares one) to check its binding sources")
    git_dir = Path(root) / ".git" if (Path(root) / ".git").exists() else Path(root)
    texts = []
    for f in SOURCE_FILES:
        for name in (ref, f"origin/{ref}"):  # a bare clone has release/8.5, a normal one origin/release/8.5
            proc = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{name}:{f}"], capture_output=True,
                                  text=True)
            if proc.returncode == 0:
                break
        else:
            pytest.fail(f"cannot read {ref}:{f} from $EDGEFASHION_TRT_SOURCE={root}: {proc.stderr.strip()}")
        texts.append(proc.stdout)
    classes = source_classes("\n".join(texts[:-1]))
    return lambda name: resolve_in_sources(classes, texts[-1], name)


def test_tensorrt_8_5_names_from_the_binding_sources():
    has = _binding_sources("release/8.5")
    missing = [n for n in TRT_API_USED_8_5 if not has(n)]
    assert not missing, f"TensorRT 8.5 lacks {missing}"
    assert not has("IPluginRegistry.load_library")  # 8.5: plugins are opened with ctypes.CDLL
    assert not trt_compat.features_for_version("8.5.2").registry_load_library
    assert [n for n in TRT_API_REMOVED["8"] if has(n)] == []
    assert [n for n in WRONG_CLASS if has(n)] == []


@pytest.mark.parametrize("ref", ["release/8.2", "release/8.4"])
def test_running_engines_on_tensorrt_8_2_and_8_4_uses_the_bindings_api(ref):
    has = _binding_sources(ref)
    missing = [n for n in TRT_API_RUNTIME_LEGACY if not has(n)]
    assert not missing, f"TensorRT {ref} lacks {missing}"
    assert not has("IExecutionContext.execute_async_v3")  # hence the bindings API there
    assert not trt_compat.features_for_version(ref.split("/")[1]).named_tensors
