"""Moved to ``edgefashion.runtime.tensorrt.profiles`` (engine *loading* lives under the runtime, issue 11).

Kept so that ``edgefashion.engine.profiles`` still imports for the CLI and user code; new code imports the
runtime module.
"""
from __future__ import annotations

from edgefashion.runtime.tensorrt.profiles import *  # noqa: F401,F403
