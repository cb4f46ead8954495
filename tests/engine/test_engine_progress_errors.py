"""Build progress lines and readable ONNX parser errors (the TensorRT-free parts)."""
from __future__ import annotations

import io
import time

import pytest

from edgefashion.engine.parser_errors import (ParserIssue, format_parser_errors, onnx_nodes, parser_error,
                                              with_node_names)
from edgefashion.engine.progress import ProgressPrinter, Ticker
from edgefashion.errors import ExportError


def test_progress_printer_renders_nested_phases_and_can_cancel():
    out = io.StringIO()
    p = ProgressPrinter(stream=out, interval=3600)
    p.phase_start("Building engine", None, 3)
    p.phase_start("Tactic selection", "Building engine", 4)
    assert all(p.step_complete("Tactic selection", s) for s in range(4))
    p.phase_finish("Tactic selection")
    assert p.step_complete("Building engine", 0)
    p.cancel()
    assert p.step_complete("Building engine", 1) is False  # TensorRT stops the build
    lines = out.getvalue().splitlines()
    assert lines[0] == "[build] Building engine (3 steps)"
    assert lines[1] == "[build] Building engine > Tactic selection (4 steps)"
    assert lines[-1].startswith("[build] Building engine")
    assert "[build] Building engine > Tactic selection 4/4" in lines  # the last step always prints
    assert "[build] Building engine > Tactic selection 2/4" not in lines  # throttled
    assert p.events[0] == ("start", "Building engine", None, 3) and ("finish", "Tactic selection") in p.events


def test_ticker_prints_elapsed_time():
    out = io.StringIO()
    with Ticker("building the engine", every=0.05, stream=out) as t:
        time.sleep(0.2)
    assert t.ticks >= 1 and t.elapsed >= 0.2
    assert "no phases before 10.0" in out.getvalue() and "building the engine..." in out.getvalue()


def test_parser_errors_name_the_failing_node(tiny_onnx):
    nodes = onnx_nodes(tiny_onnx)
    assert nodes and all(op for _, op in nodes)
    conv = next(i for i, (_, op) in enumerate(nodes) if op == "Conv")
    # TensorRT 8.x reports only the node index; the name and op come from the graph
    issues = with_node_names([ParserIssue("UNSUPPORTED_NODE", "no importer", conv)], nodes)
    assert issues[0].node_name == nodes[conv][0] and issues[0].node_op == "Conv"
    msg = format_parser_errors(tiny_onnx, issues, "8.6.1")
    assert f"node {conv} {nodes[conv][0]!r} (op Conv): no importer [UNSUPPORTED_NODE]" in msg
    assert msg.startswith("TensorRT 8.6.1 cannot parse") and "what to do:" in msg
    err = parser_error(tiny_onnx, [ParserIssue("X", "bad", conv)], "10.3.0", False)
    assert isinstance(err, ExportError) and nodes[conv][0] in str(err)


@pytest.mark.parametrize("loaded, hint", [(False, "--plugins path/to/libedgefashion_trt_plugins.so"),
                                          (True, "built against this TensorRT")])
def test_custom_op_errors_point_at_the_plugin_library(loaded, hint):
    issue = ParserIssue("UNSUPPORTED_NODE", "Plugin not found", 7, "ChannelAttention_3",
                        "edgefashion::ChannelAttention")
    msg = format_parser_errors("m.onnx", [issue], "10.3.0", plugins_loaded=loaded)
    assert "node 7 'ChannelAttention_3' (op edgefashion::ChannelAttention)" in msg and hint in msg
