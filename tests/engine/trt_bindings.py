"""NVIDIA's real TensorRT Python bindings, read without TensorRT: which ``Class.member`` names exist.

Two inputs, both public, neither needing a GPU:

1. **Bindings wheels** from PyPI (``tensorrt-bindings`` 8.6, ``tensorrt-cu12-bindings`` 10.x,
   ``tensorrt-cu13-bindings`` 11.x; ~1 MB each). Their compiled module ``tensorrt.so`` needs
   ``libnvinfer`` / ``libnvonnxparser`` / ``libnvinfer_plugin`` only for 9-13 C entry points
   (``createInferBuilder_INTERNAL`` ...) that importing the module never calls. So the module is imported
   for real, in a subprocess, against a tiny stand-in library that defines those entry points (written
   and compiled here with ``cc``; no NVIDIA code or header), and each dotted name is resolved with
   ``getattr`` on the real pybind11 classes: ``ICudaEngine.set_tensor_address`` is missing even though
   ``IExecutionContext.set_tensor_address`` exists.

   Where the wheels come from: ``$EDGEFASHION_TRT_WHEELS`` (a folder) when set: then every wheel must
   be there and nothing is downloaded (CI prepares the folder once with
   ``python tests/engine/trt_bindings.py DIR``; a missing wheel is a test failure, not a skip). When
   unset: ``~/.cache/edgefashion-trt-wheels``, filled with ``pip download`` on first use (a skip saying
   so when offline).
2. **Binding sources** (TensorRT 8.5 / 8.4 / 8.2 have no bindings wheel): ``python/src`` of
   github.com/NVIDIA/TensorRT at ``release/8.x``, read with ``git show`` from the clone that
   ``$EDGEFASHION_TRT_SOURCE`` points to; class membership is taken from the ``py::class_`` /
   ``py::enum_`` registrations and the ``.def*`` / ``.value`` calls that follow them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

# One or two wheels per supported major: the Jetson-relevant and the newest (about 6 MB in all).
WHEELS = {
    "8": [("tensorrt-bindings", "8.6.1")],
    "10": [("tensorrt-cu12-bindings", "10.3.0"), ("tensorrt-cu12-bindings", "10.16.1.11")],
    "11": [("tensorrt-cu13-bindings", "11.0.0.114"), ("tensorrt-cu13-bindings", "11.4.0.106")],
}
ENV_WHEELS = "EDGEFASHION_TRT_WHEELS"
DEFAULT_CACHE = Path.home() / ".cache" / "edgefashion-trt-wheels"
PYTHON_TAG = "3.11"  # the wheels' compiled module is for CPython 3.11 (the project's Python)

# The C entry points the bindings import from libnvinfer*, per the wheels' dynamic symbol tables
# (8.6 adds the UFF / Caffe parser functions, whose C++ names are spelled mangled).
_STAND_IN = r"""
#include <stddef.h>
void* createInferBuilder_INTERNAL(void* a, int b) { return NULL; }
void* createInferRefitter_INTERNAL(void* a, void* b, int c) { return NULL; }
void* createInferRuntime_INTERNAL(void* a, int b) { return NULL; }
void* createNvOnnxParserRefitter_INTERNAL(void* a, void* b, int c) { return NULL; }
void* createNvOnnxParser_INTERNAL(void* a, void* b, int c) { return NULL; }
void* getBuilderPluginRegistry(int a) { return NULL; }
int getNvOnnxParserVersion(void) { return 0; }
void* getPluginRegistry(void) { return NULL; }
int initLibNvInferPlugins(void* a, const char* b) { return 0; }
void* _ZN11nvuffparser15createUffParserEv(void) { return NULL; }
void _ZN11nvuffparser8FieldMapC1EPKcPKvNS_9FieldTypeEi(void* a, const char* b, const void* c, int d, int e) {}
void* _ZN14nvcaffeparser117createCaffeParserEv(void) { return NULL; }
void _ZN14nvcaffeparser123shutdownProtobufLibraryEv(void) {}
"""
_SONAMES = [f"lib{n}.so.{m}" for m in (8, 10, 11) for n in ("nvinfer", "nvonnxparser", "nvinfer_plugin")]
_SONAMES.append("libnvparsers.so.8")

_RESOLVE = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("tensorrt", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
MISSING, found = object(), {}
for name in json.load(sys.stdin):
    obj = module
    for part in name.split("."):
        obj = getattr(obj, part, MISSING)
        if obj is MISSING:
            break
    found[name] = obj is not MISSING
print(json.dumps(found))
"""


def wheel_folder() -> tuple[Path, bool]:
    """(folder, strict): strict when ``$EDGEFASHION_TRT_WHEELS`` names it (no download, missing = failure)."""
    env = os.environ.get(ENV_WHEELS)
    return (Path(env), True) if env else (DEFAULT_CACHE, False)


def find_wheel(folder: Path, pkg: str, version: str) -> Path | None:
    found = sorted(folder.glob(f"{pkg.replace('-', '_')}-{version}-*.whl"))
    return found[0] if found else None


def download(pkg: str, version: str, dest: Path) -> subprocess.CompletedProcess:
    """``pip download`` of one bindings wheel for CPython 3.11 / manylinux x86-64 (no dependencies)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           PYTHON_TAG, "--implementation", "cp", "--abi", "none", "--platform", "manylinux_2_28_x86_64",
           "--platform", "manylinux_2_17_x86_64", "-d", str(dest), f"{pkg}=={version}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def stand_in_libraries(workdir: Path) -> Path:
    """A folder of ``libnvinfer.so.N`` & co., each the 13-function stand-in (compiled once)."""
    out = workdir / "stand-in"
    if all((out / s).is_file() for s in _SONAMES):
        return out
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise RuntimeError("no C compiler (cc / gcc / clang) to build the stand-in for libnvinfer")
    out.mkdir(parents=True, exist_ok=True)
    src = out / "stand_in.c"
    src.write_text(_STAND_IN)
    for soname in _SONAMES:
        subprocess.run([cc, "-shared", "-fPIC", "-o", str(out / soname), f"-Wl,-soname,{soname}", str(src)],
                       check=True, capture_output=True)
    return out


def resolve_names(wheel: Path, names: list[str], workdir: Path) -> dict[str, bool]:
    """{dotted name: exists} in the wheel's real compiled module (imported in a subprocess)."""
    target = workdir / wheel.stem
    with zipfile.ZipFile(wheel) as z:
        module = next((n for n in z.namelist() if re.match(r"tensorrt[^/]*/tensorrt[^/]*\.so$", n)), None)
        if module is None:
            raise RuntimeError(f"no compiled tensorrt module in {wheel.name}")
        z.extract(module, target)
        init = next((n for n in z.namelist() if re.match(r"tensorrt[^/]*/__init__\.py$", n)), None)
        python = z.read(init).decode("utf-8", "replace") if init else ""
    env = {**os.environ, "LD_LIBRARY_PATH": str(stand_in_libraries(workdir))}
    proc = subprocess.run([sys.executable, "-c", _RESOLVE, str(target / module)], input=json.dumps(names),
                          capture_output=True, text=True, env=env, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"importing {wheel.name}'s module failed: {proc.stderr.strip()[-800:]}")
    found = json.loads(proc.stdout)
    # names the package's own __init__.py defines (``__version__``), not the compiled module
    for name in names:
        if not found[name] and "." not in name and re.search(rf"^{re.escape(name)}\s*=", python, re.M):
            found[name] = True
    return found


# ------------------------------------------------------------------ binding sources (TensorRT 8.2 - 8.5)
_TOKEN = re.compile(
    r"py::(?:class_|enum_)<(?P<tmpl>[^;{}]*?)>\s*(?P<var>\w+)?\s*[({]\s*(?P<scope>\w+)\s*,\s*\"(?P<cls>\w+)\""
    r"|\b(?P<owner>\w+)\s*\.\s*(?:def\w*|value)\s*\(\s*\"(?P<vmember>\w+)\""
    r"|\.\s*(?:def\w*|value)\s*\(\s*\"(?P<member>\w+)\""
    r"|\.\s*export_values\s*\(", re.S)


def source_classes(cpp: str) -> dict[str, set[str]]:
    """{python class name: its member names} from pybind11 registrations in TensorRT's binding sources,
    with base classes' members, nested enums (``ILogger.Severity``) and ``export_values`` applied; the
    module's own functions (``m.def("init_libnvinfer_plugins", ...)``) under the key ``""``."""
    members: dict[str, set[str]] = {"": set()}
    var_class, cpp_class, bases, values_of, exported = {}, {}, {}, {}, []
    current = None
    for m in _TOKEN.finditer(cpp):
        if m.group("cls"):
            cls = current = m.group("cls")
            members.setdefault(cls, set())
            args = [a.strip() for a in re.split(r",(?![^<]*>)", m.group("tmpl"))]
            cpp_class[args[0].split("::")[-1]] = cls
            bases[cls] = [a.split("::")[-1] for a in args[1:]]
            if m.group("var"):
                var_class[m.group("var")] = cls
            scope = var_class.get(m.group("scope"))
            if scope:  # a nested class / enum: reachable as Scope.Name
                members.setdefault(scope, set()).add(cls)
                values_of[cls] = scope
        elif m.group("owner") == "m":
            members[""].add(m.group("vmember"))
        elif m.group("owner") and m.group("owner") in var_class:
            current = var_class[m.group("owner")]
            members[current].add(m.group("vmember"))
        elif m.group("owner") and current:  # a word before a chained .def (a comment's last word)
            members[current].add(m.group("vmember"))
        elif m.group("member") and current:
            members[current].add(m.group("member"))
        elif m.group(0).lstrip(".").strip().startswith("export_values") and current in values_of:
            exported.append(current)
    for enum in exported:  # export_values puts an enum's values on the enclosing class
        members[values_of[enum]] |= members[enum]
    out = {}
    for cls in members:
        seen, todo = set(), [cls]
        while todo:
            c = todo.pop()
            if c in seen:
                continue
            seen.add(c)
            todo += [cpp_class[b] for b in bases.get(c, ()) if b in cpp_class]
        out[cls] = set().union(*(members.get(c, set()) for c in seen))
    return out


def resolve_in_sources(classes: dict[str, set[str]], python: str, name: str) -> bool:
    """Whether ``Class.member`` (or a module-level ``name``) is registered in the binding sources
    (``python``: the package's ``__init__.py``, which defines ``__version__``)."""
    parts = name.split(".")
    if len(parts) == 1:
        return (name in classes or name in classes.get("", ())
                or re.search(rf"^{re.escape(name)}\s*=", python, re.M) is not None)
    cls = parts[0]
    for part in parts[1:]:
        if cls not in classes or part not in classes[cls]:
            return False
        cls = part
    return True


SOURCE_REFS = ("release/8.2", "release/8.4", "release/8.5")
SOURCE_FILES = ("python/src/infer/pyCore.cpp", "python/src/infer/pyFoundationalTypes.cpp",
                "python/src/infer/pyGraph.cpp", "python/src/infer/pyInt8.cpp", "python/src/infer/pyPlugin.cpp",
                "python/src/parsers/pyOnnx.cpp", "python/packaging/tensorrt/__init__.py")
SOURCE_URL = "https://github.com/NVIDIA/TensorRT.git"


def prepare_sources(dest: Path) -> None:
    """A bare, blob-less clone of NVIDIA/TensorRT with just the binding sources of 8.2 / 8.4 / 8.5 fetched
    (so the tests read them offline): what ``$EDGEFASHION_TRT_SOURCE`` points to."""
    if not dest.exists():
        subprocess.run(["git", "clone", "-q", "--bare", "--filter=blob:none", SOURCE_URL, str(dest)], check=True)
    for ref in SOURCE_REFS:
        for f in SOURCE_FILES:
            subprocess.run(["git", f"--git-dir={dest}", "show", f"{ref}:{f}"], check=True, capture_output=True)


def main(argv: list[str]) -> int:
    """python tests/engine/trt_bindings.py WHEEL_DIR [--sources SRC_DIR]: what CI prepares once (about 6 MB of
    wheels; the sources: a blob-less clone plus 21 files)."""
    dest = Path(argv[0]) if argv and not argv[0].startswith("-") else DEFAULT_CACHE
    for pkg, version in [w for ws in WHEELS.values() for w in ws]:
        if find_wheel(dest, pkg, version) is None:
            proc = download(pkg, version, dest)
            if proc.returncode != 0 or find_wheel(dest, pkg, version) is None:
                print(f"could not download {pkg}=={version}: {(proc.stderr or proc.stdout).strip()[-400:]}")
                return 1
        print(find_wheel(dest, pkg, version))
    if "--sources" in argv:
        src = Path(argv[argv.index("--sources") + 1])
        prepare_sources(src)
        print(src)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
