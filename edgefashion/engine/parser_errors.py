"""Readable ONNX parser errors: which node failed (name, op), why, and what to do.

TensorRT 10+ reports the failing node's name and op; 8.x only its index, which is looked up in the
ONNX graph here (with ``onnx`` when installed).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from edgefashion.errors import ExportError

CUSTOM_OPS = ("ChannelAttention", "SpatialGate")  # edgefashion's TensorRT plugins (csrc/tensorrt)


@dataclass(frozen=True)
class ParserIssue:
    code: str
    desc: str
    node_index: int = -1
    node_name: str = ""
    node_op: str = ""


def onnx_nodes(path: str | Path) -> list[tuple[str, str]]:
    """[(node name, op type)] in graph order, or [] when ``onnx`` is not installed / the file is unreadable."""
    try:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # noqa: BLE001 - only used to make an error message better
        return []
    return [(n.name, (f"{n.domain}::" if n.domain and n.domain != "ai.onnx" else "") + n.op_type)
            for n in graph.node]


def with_node_names(issues: Sequence[ParserIssue], nodes: Sequence[tuple[str, str]]) -> list[ParserIssue]:
    """Fill node names / ops from the graph where TensorRT gave only an index."""
    out = []
    for i in issues:
        if not i.node_name and 0 <= i.node_index < len(nodes):
            name, op = nodes[i.node_index]
            i = ParserIssue(i.code, i.desc, i.node_index, name, i.node_op or op)
        out.append(i)
    return out


def hint_for(issues: Sequence[ParserIssue], plugins_loaded: bool) -> str:
    ops = " ".join(i.node_op + " " + i.desc for i in issues)
    if any(op in ops for op in CUSTOM_OPS):
        if plugins_loaded:
            return ("the edgefashion plugin library is loaded but did not provide the op; check that it was "
                    "built against this TensorRT (needs TensorRT >= 10: IPluginV3)")
        return ("the model was exported with edgefashion's fused custom ops; pass --plugins "
                "path/to/libedgefashion_trt_plugins.so (built by `pip install -e .` when TENSORRT_ROOT is "
                "set), or re-export without --custom-ops")
    if "opset" in ops.lower() or "No importer registered" in ops or "unsupported" in ops.lower():
        return "re-export with another opset (`edgefashion export --opset 17`) or upgrade TensorRT"
    return "check the node in Netron; `polygraphy inspect model` shows what TensorRT supports"


def format_parser_errors(onnx_path: str | Path, issues: Sequence[ParserIssue], trt_version: str,
                         plugins_loaded: bool = False) -> str:
    lines = [f"TensorRT {trt_version} cannot parse {str(onnx_path)!r} ({len(issues)} error"
             f"{'s' if len(issues) != 1 else ''}):"]
    for i in issues:
        where = f"node {i.node_index}" if i.node_index >= 0 else "the model"
        if i.node_name or i.node_op:
            where += f" {i.node_name!r} (op {i.node_op or '?'})"
        lines.append(f"  {where}: {i.desc} [{i.code}]")
    lines.append(f"what to do: {hint_for(issues, plugins_loaded)}")
    return "\n".join(lines)


def collect_parser_errors(parser, node_names: bool) -> list[ParserIssue]:
    """The parser's errors as ParserIssues (TensorRT-thin)."""
    out = []
    for k in range(parser.num_errors):
        error = parser.get_error(k)
        code = getattr(error.code(), "name", str(error.code()))
        name = error.node_name() if node_names else ""
        op = error.node_operator() if node_names else ""
        out.append(ParserIssue(str(code), str(error.desc()), int(error.node()), str(name or ""), str(op or "")))
    return out


def parser_error(onnx_path, issues, trt_version: str, plugins_loaded: bool) -> ExportError:
    text = format_parser_errors(onnx_path, with_node_names(issues, onnx_nodes(onnx_path)), trt_version,
                                plugins_loaded)
    rules = rule_violations(onnx_path, trt_version)
    if rules:
        text += "\nwhat edgefashion's check of onnx-tensorrt's published support finds:\n  " + "\n  ".join(rules)
    return ExportError(text)


def rule_violations(onnx_path, trt_version: str, limit: int = 10) -> list[str]:
    """``trt_onnx_rules.check_onnx`` for this TensorRT, as lines (empty when onnx is missing or the version
    is not one the rules know)."""
    try:
        from edgefashion.engine.trt_onnx_rules import check_onnx

        found = check_onnx(onnx_path, trt_version)
    except Exception:  # noqa: BLE001 - only used to make an error message better
        return []
    return [str(v) for v in found[:limit]] + ([f"... and {len(found) - limit} more"] if len(found) > limit else [])
