"""Accuracy-aware int8 fallback: return the most harmful layers to fp32 until every gate target passes.

When the int8 candidate fails the gate (precision/target_eval.py), quantize first calibrates with the
other methods (entropy, percentile, minmax) on the same images unless one was named, keeps the best,
and then ``run_fallback``:

1. groups the quantized nodes into units, one per module of the exported graph (an MBConv block
   ``blocks.2.0``, ``lateral.1``, ``channel_att.3``, the stem...: ``unit_of``), and counts each
   unit's multiply-accumulates (``mac_counts``);
2. ranks the units by their effect on the failing targets: the candidate is rebuilt with one unit in
   fp32 at a time (the calibration ranges are reused, so a rebuild is a few seconds) and its drift from
   fp32 on the first ``rank_images`` evaluation images is measured (``drift``: the KL divergence of
   the category probabilities plus 1 - cosine of every logits output). A unit's effect is the drift
   it removes;
3. returns the units to fp32 in that order, one at a time, re-running the full gate on every target
   after each (a unit whose return does not bring the answers closer to fp32, i.e. raise the summed
   top-1 agreement, goes back to int8), until all pass, or until no unit that fits the ``budget``
   (default 25 % of the model's MACs in fp32) is left. Off a plateau (no single unit helps: close
   calls that any int8 noise flips) one last step returns every other unit at once, when the budget
   allows it; if that fails too it refuses, with every step;
4. once every target passes, trims (``trim``): a returned unit is a whole block, but often one of
   its layers carries the error (a depthwise conv, say) while its 1x1 convs hold the MACs. Each
   MAC layer (Conv, Gemm, MatMul) of the returned units goes back to int8 in turn, most MACs first,
   and stays there when every target still passes. This buys back int8 speed within the gate (a
   kept trim may spend its slack on the evaluation images).

This is the layer-wise sensitivity search of Polygraphy's precision debugging and of NNCF's
accuracy-controlled quantization (which ranks by the same kind of rebuild), done here on the ONNX
Runtime quantizer the rest of precision/ uses, so the file keeps its TensorRT Q/DQ layout, and
judged on every target (NNCF's judges OpenVINO only).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefashion.errors import BadInput

MAC_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
DEFAULT_BUDGET = 0.25       # the most of the model's MACs the fallback may leave in fp32
DEFAULT_RANK_IMAGES = 128   # evaluation images the ranking runs on (the gate uses all of them)
_INDEXED = re.compile(r"\.\d+$")


@dataclass(frozen=True)
class FallbackSettings:
    enabled: bool = True
    budget: float = DEFAULT_BUDGET
    rank_images: int = DEFAULT_RANK_IMAGES
    max_steps: int = 32
    methods: bool = True  # first try the other calibration methods (when the user named none)
    trim: bool = True     # after passing, put each returned layer back in int8 where the gate allows

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.budget) <= 1.0:
            raise BadInput(f"fallback budget {self.budget!r} must be a share of the model's MACs in "
                           "[0, 1] (e.g. 0.25)")
        if int(self.rank_images) < 1 or int(self.max_steps) < 1:
            raise BadInput(f"rank_images {self.rank_images} and max_steps {self.max_steps} must be >= 1")


def unit_of(node_name: str) -> str:
    """The module a node belongs to: its path without the op, cut after the deepest indexed part
    (``/model/blocks.2/blocks.2.0/conv_pw/Conv`` -> ``/model/blocks.2/blocks.2.0``)."""
    parts = node_name.split("/")[:-1] if "/" in node_name else [node_name]
    cut = max((i for i, p in enumerate(parts) if _INDEXED.search(p)), default=len(parts) - 1)
    return "/".join(parts[:cut + 1]) or node_name


def mac_counts(model) -> dict[str, int]:
    """node name -> multiply-accumulates per image of every Conv / Gemm / MatMul (shape inference)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else 1 for d in v.type.tensor_type.shape.dim]
              for v in [*g.value_info, *g.output, *g.input]}
    weights = {i.name: list(i.dims) for i in g.initializer}
    out = {}
    for n in g.node:
        if n.op_type not in MAC_OPS:
            continue
        w = weights.get(n.input[1]) if len(n.input) > 1 else None
        y = shapes.get(n.output[0])
        if w is None:
            w = shapes.get(n.input[1]) if len(n.input) > 1 else None
        if not w or not y:
            out[n.name] = 0
            continue
        if n.op_type in ("Conv", "ConvTranspose"):  # W: (Cout, Cin/groups, kh, kw)
            out[n.name] = int(np.prod(y[1:], dtype=np.int64) * np.prod(w[1:], dtype=np.int64))
        else:  # y (.., M, N) from K-long dot products; batch dims counted as 1
            out[n.name] = int(np.prod(y[1:], dtype=np.int64) * w[-2 if n.op_type == "MatMul" else 0])
            if n.op_type == "Gemm" and any(a.name == "transB" and a.i for a in n.attribute):
                out[n.name] = int(np.prod(y[1:], dtype=np.int64) * w[1])
    return out


def quantizable_units(model, excluded: Sequence[str]) -> dict[str, list[str]]:
    """unit -> its nodes, for every unit with a node ONNX Runtime quantizes that is not excluded."""
    from onnxruntime.quantization.registry import QDQRegistry

    skip = set(excluded)
    units: dict[str, list] = {}
    for n in model.graph.node:
        units.setdefault(unit_of(n.name), []).append(n)
    return {u: [n.name for n in nodes] for u, nodes in units.items()
            if any(n.name not in skip and n.op_type in QDQRegistry for n in nodes)}


def drift(ref: Mapping[str, np.ndarray], out: Mapping[str, np.ndarray],
          maps: Mapping[str, float | None] | None = None) -> float:
    """How far ``out`` moved from ``ref``: category KL divergence (when there are 2+ categories) plus
    1 - the mean per-image cosine of every logits output; plus, for each output in ``maps`` (the
    maps whose gate rules fail: name -> their max-abs limit or None), 1 - its mean cosine and its
    max-abs error over the limit."""
    from edgefashion.precision.accuracy import cosine_rows

    total = 0.0
    for name, r in ref.items():
        if r.size == 0 or name not in out:
            continue
        if name in (maps or {}):
            a, b = r.reshape(len(r), -1), out[name].reshape(len(r), -1)
            total += float(1.0 - cosine_rows(a, b).mean())
            if maps[name]:
                total += float(np.max(np.abs(a - b))) / maps[name]
            continue
        if not name.endswith("logits"):
            continue
        total += float(1.0 - cosine_rows(r, out[name]).mean())
        if name == "category_logits" and r.shape[1] > 1:
            p, q = _softmax(r), _softmax(out[name])
            total += float(np.mean(np.sum(p * (np.log(p + 1e-12) - np.log(q + 1e-12)), axis=1)))
    return total


def failing_maps(per_target: Mapping[str, Mapping]) -> dict[str, float | None]:
    """The non-logits outputs with a broken gate rule on some target -> their max-abs limit (None
    when only a cosine rule broke): what the ranking must also measure."""
    out: dict[str, float | None] = {}
    for rep in per_target.values():
        for rule in rep["gate"]["rules"]:
            for name in rep.get("outputs", {}):
                if name.endswith("logits") or not rule["rule"].startswith(name + " "):
                    continue
                if not rule["passed"]:
                    out.setdefault(name, None)
                if rule["rule"].endswith("max-abs") and name in out:
                    out[name] = rule["limit"]
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def run_fallback(pre: Path, exclude: list[str], settings: FallbackSettings,
                 build: Callable[[list[str], Path], None], judge: Callable[[Path], dict],
                 measure: Callable[[Path], float], workdir: Path, log: Callable[[str], None],
                 start: Mapping[str, Mapping] | None = None) -> dict:
    """The search above. ``build(exclude, path)`` writes a candidate; ``judge(path)`` -> target ->
    gated report; ``measure(path)`` -> drift on the ranking images; ``start``: the int8 candidate's
    gated reports (a step must do better than it). Returns the
    record (``passed``, ``exclude``, ``steps``, ``ranking``, shares) and leaves the last candidate
    at ``workdir / "fallback.onnx"``."""
    import onnx

    from edgefashion.precision.target_eval import all_passed

    model = onnx.load(str(pre))
    macs = mac_counts(model)
    total = max(1, sum(macs.values()))
    share = lambda names: sum(macs.get(n, 0) for n in set(names)) / total  # noqa: E731
    units = quantizable_units(model, exclude)
    probe = workdir / "rank.onnx"
    build(exclude, probe)
    base = measure(probe)
    log(f"fallback: ranking {len(units)} quantized units by the drift they add (int8 drift {base:.4g})")
    ranking = []
    for u, names in units.items():
        build([*exclude, *names], probe)
        d = measure(probe)
        ranking.append({"unit": u, "nodes": len(names), "mac_share": share(names),
                        "drift_without": d, "effect": base - d})
    ranking.sort(key=lambda r: -r["effect"])
    kept, steps, cand, best = list(exclude), [], workdir / "fallback.onnx", \
        (gate_score(start) if start else -math.inf)
    record = {"budget": settings.budget, "rank_images": settings.rank_images, "int8_drift": base,
              "ranking": ranking, "steps": steps, "fp32_share_before": share(exclude)}
    for r in ranking:
        if len(steps) >= settings.max_steps or r["effect"] <= 0:
            break
        names = units[r["unit"]]
        trial = list(dict.fromkeys([*kept, *names]))
        if share(trial) > settings.budget + 1e-12:
            log(f"fallback: {r['unit']} would take the fp32 share to {share(trial):.1%} "
                f"(budget {settings.budget:.0%}); skipped")
            continue
        build(trial, cand)
        per_target = judge(cand)
        score = gate_score(per_target)
        step = {"unit": r["unit"], "fp32_share": share(trial), "passed": all_passed(per_target),
                "kept": score > best, "targets": _summaries(per_target)}
        steps.append(step)
        log(f"fallback step {len(steps)}: {r['unit']} to fp32 (fp32 MACs {step['fp32_share']:.1%}): "
            + _agreements(step["targets"])
            + ("" if step["kept"] or step["passed"] else "; no better, put back in int8"))
        if step["passed"]:
            kept = trial
            break
        if step["kept"]:  # a unit whose return moves nothing (or worse) stays int8
            kept, best = trial, score
    passed = bool(steps and steps[-1]["passed"])
    returned = [s["unit"] for s in steps if s["kept"] or s["passed"]]
    if not passed:  # off a plateau: every other unit at once when the budget allows, then the trim
        rest = [u for u in units if u not in returned]
        trial = list(dict.fromkeys([*kept, *(n for u in rest for n in units[u])]))
        if rest and share(trial) <= settings.budget + 1e-12:
            build(trial, cand)
            per_target = judge(cand)
            step = {"unit": f"all {len(rest)} other units", "units": rest, "fp32_share": share(trial),
                    "passed": all_passed(per_target), "kept": False,
                    "targets": _summaries(per_target)}
            steps.append(step)
            log(f"fallback step {len(steps)}: the other {len(rest)} units to fp32 at once (fp32 MACs "
                f"{step['fp32_share']:.1%}): " + _agreements(step["targets"]))
            if step["passed"]:
                passed, kept, returned = True, trial, [*returned, *rest]
    if not passed and steps:
        build(kept, cand)  # the best state found, for the record
    trims: list[dict] = []
    if passed and settings.trim:
        added = [n for u in returned for n in units[u] if n not in exclude]  # not the defaults' own
        kept = _trim(kept, added, macs, share, build, judge, cand, workdir / "trim.onnx", trims, log,
                     settings.max_steps)
    record.update(passed=passed, exclude=kept, fp32_share=share(kept), returned=returned, trims=trims,
                  fp32_share_untrimmed=trims[0]["fp32_share_before"] if trims else share(kept))
    return record


def _trim(kept: list[str], returned_nodes: list[str], macs: Mapping[str, int], share, build, judge,
          cand: Path, probe: Path, trims: list[dict], log, max_tries: int) -> list[str]:
    """Put each MAC layer of the returned units back in int8, most MACs first (at most ``max_tries``),
    where every target still passes; ``cand`` ends as the last passing candidate. Appends one record
    per try. The gate's slack on the evaluation images is what a kept trim spends."""
    import shutil

    from edgefashion.precision.target_eval import all_passed

    layers = sorted((n for n in dict.fromkeys(returned_nodes) if macs.get(n, 0) > 0),
                    key=lambda n: -macs[n])
    for n in layers[:max_tries]:
        trial = [k for k in kept if k != n]
        build(trial, probe)
        per_target = judge(probe)
        ok = all_passed(per_target)
        trims.append({"node": n, "mac_share": macs[n] / max(1, sum(macs.values())), "passed": ok,
                      "fp32_share_before": share(kept), "fp32_share": share(trial if ok else kept),
                      "targets": _summaries(per_target)})
        log(f"fallback trim: {n} back to int8: " + _agreements(trims[-1]["targets"])
            + ("; kept in int8" if ok else "; stays fp32"))
        if ok:
            kept = trial
            shutil.copyfile(probe, cand)
    return kept


def gate_score(per_target: Mapping[str, Mapping]) -> float:
    """Higher is closer to passing: minus each broken rule's excess in units of what the rule
    allows (a fraction floor such as agreement 0.995 or cosine 0.98: of 1 - floor; a ceiling such as
    a map's max-abs or a top-3 drop: of the ceiling), then the summed top-1 agreement, ties broken
    by the logits cosine."""
    score = 0.0
    for r in per_target.values():
        for rule in r["gate"]["rules"]:
            if not rule["passed"] and rule["value"] is not None:
                score -= _excess(rule)
        score += r["category"]["top1_agreement"] \
            + 0.01 * r["outputs"].get("category_logits", {}).get("cosine_mean", 0.0)
    return score


def _excess(rule: Mapping) -> float:
    value, limit = float(rule["value"]), float(rule["limit"])
    if value < limit and 0 < limit < 1:  # a floor on a fraction (agreement, cosine)
        return (limit - value) / (1 - limit)
    return abs(value - limit) / max(abs(limit), 1e-6)


def _summaries(per_target: Mapping[str, Mapping]) -> dict:
    return {t: _summary(rep) for t, rep in per_target.items()}


def _agreements(summaries: Mapping[str, Mapping]) -> str:
    """"openvino agreement 0.9971, onnxruntime agreement 0.9941 FAIL": a step's line in the log."""
    return ", ".join(f"{t} agreement {s['top1_agreement']:.4f}{'' if s['passed'] else ' FAIL'}"
                     for t, s in summaries.items())


def _summary(report: Mapping) -> dict:
    c = report["category"]
    cos = report["outputs"].get("category_logits", {}).get("cosine_mean", math.nan)
    return {"top1_agreement": c["top1_agreement"], "top1_delta_points": c["delta_points"]["top1"],
            "top3_delta_points": c["delta_points"]["top3"], "logits_cosine_mean": cos,
            "passed": report["gate"]["passed"], "failed": list(report["gate"]["failed"])}
