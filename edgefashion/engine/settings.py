"""Moved to ``edgefashion.runtime.tensorrt.settings`` (engine *loading* lives under the runtime, issue 11).

Kept so that ``edgefashion.engine.settings`` still imports for the CLI and user code; new code imports the
runtime module.
"""
from __future__ import annotations

from edgefashion.runtime.tensorrt.settings import *  # noqa: F401,F403
