"""Environment capture (every probe optional, with a reason) and peak memory."""
from __future__ import annotations

import json
import sys

import numpy as np

from edgefashion.bench import env
from edgefashion.bench.memory import PeakMemory, current_rss_mib, process_peak_rss_mib


def test_environment_has_machine_versions_date():
    e = env.capture_environment()
    json.dumps(e)  # JSON-able
    for key in ("date", "host", "platform", "python", "cpu", "cpu_count", "versions", "gpu", "jetson",
                "unavailable"):
        assert key in e
    assert e["versions"]["numpy"] == np.__version__
    assert e["versions"]["edgefashion"]
    # whatever is missing says why
    for key in ("gpu", "jetson"):
        assert e[key] is not None or e["unavailable"][key]


def test_missing_tool_gives_a_reason():
    out, why = env.run_tool(["edgefashion-no-such-tool-xyz", "--help"])
    assert out is None and "not found" in why


def test_failing_tool_gives_its_exit_code():
    out, why = env.run_tool([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"])
    assert out is None and "exited 3" in why and "boom" in why


def test_nvpmodel_output_parsing():
    text = "NV Power Mode: MAXN\n0\n"
    assert env._power_mode(text) == {"name": "MAXN", "id": 0, "raw": "NV Power Mode: MAXN\n0"}


def test_nvidia_smi_values():
    assert env._number("1410") == 1410
    assert env._number("68.53") == 68.53
    assert env._number("[N/A]") is None
    assert env._number("NVIDIA H100") == "NVIDIA H100"


def test_peak_memory_sees_an_allocation():
    with PeakMemory() as mem:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        block.sum()
        del block
    r = mem.result
    assert r["rss_peak_mib"] is not None and r["rss_start_mib"] is not None
    if r["scope"] == "section":  # Linux with a resettable high-water mark
        assert r["rss_peak_mib"] - r["rss_start_mib"] > 48
    assert current_rss_mib() > 0 and process_peak_rss_mib() >= current_rss_mib() - 1
