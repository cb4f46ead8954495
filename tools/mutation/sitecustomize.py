"""Loaded at interpreter start when tools/mutation is on PYTHONPATH (tools/mutation.sh does that).

The editable install (scikit-build-core) puts a finder first on ``sys.meta_path`` that sends every
``import edgefashion...`` to the working tree, whatever ``sys.path`` says; mutmut runs the tests on
its mutated copy in ``mutants/``, so the finder is told to forget the Python sources. The compiled
``edgefashion._C`` still comes from the install. Nothing else is changed.
"""
import sys

for _finder in sys.meta_path:
    if type(_finder).__name__ == "ScikitBuildRedirectingFinder":
        _finder.known_source_files = {}
        _finder.submodule_search_locations = {}
