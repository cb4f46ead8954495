"""Moved to ``edgefashion.runtime.tensorrt.compat`` (engine *loading* lives under the runtime, issue 11).

Kept so that ``edgefashion.engine.trt_compat`` still imports for the CLI and user code; new code imports the
runtime module.
"""
from __future__ import annotations

from edgefashion.runtime.tensorrt.compat import *  # noqa: F401,F403
