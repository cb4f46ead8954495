"""The import graph keeps its layers (README, "Layout"): every import of one edgefashion package by
another, at the top of a file or inside a function, runs downwards in ``LAYERS``, so there is no
circle between packages and nothing low reaches up; and no two modules import each other."""
from __future__ import annotations

import ast
from pathlib import Path

import edgefashion

ROOT = Path(edgefashion.__file__).parent
# bottom-up; a package may import only the ones before it
LAYERS = ["errors", "config_dict", "timing", "labels", "runtime", "data", "losses", "_C", "ops", "models",
          "export", "retrieval", "training", "precision", "engine", "pytorch_backend", "stream", "serve",
          "deploy", "tag", "bench", "cli"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module -> the edgefashion modules it imports (``import edgefashion`` itself, the facade that
    holds ``__version__``, is left out)."""
    known = {_module_name(p) for p in ROOT.rglob("*.py")}
    found: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        here, targets = _module_name(path), set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.startswith("edgefashion"):
                for alias in node.names:  # `from edgefashion.x import y`: y may be a module
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in known else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("edgefashion.")}
        found[here] = {t for t in targets if t != "edgefashion" and t != here}
    return found


def _package(module: str) -> str:
    return module.split(".")[1]


def test_every_package_has_a_layer():
    packages = {_package(m) for m in _imports() if m != "edgefashion"}
    assert packages - set(LAYERS) == set(), "add the new package to LAYERS (and README's Layout)"


def test_imports_run_downwards_between_packages():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = sorted(f"{m} -> {t}" for m, ts in _imports().items() if m != "edgefashion" for t in ts
                    if _package(t) != _package(m) and rank[_package(t)] > rank[_package(m)])
    assert upward == []


def test_no_two_modules_import_each_other():
    graph = _imports()
    pairs = sorted({tuple(sorted((m, t))) for m, ts in graph.items() for t in ts if m in graph.get(t, ())})
    assert pairs == []
