"""MSFAN end to end (PyTorch backend) with set_impl("fused") vs set_impl("reference"), used by bench_ops.py.

Overall: per-forward time under inference mode (and, on a GPU, of a CUDA-graph replay of the forward:
GPU time without launch overhead). Per stage: the time spent inside each SpatialGate / ChannelAttention
module (forward hooks around the module, synchronized on a GPU). The two implementations alternate over
several rounds and each number is the best round, so that a burst of other load on the host does not
land on one side only.
"""
from __future__ import annotations

import time

import torch

from edgefashion import ops

DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def _stage_times(model, x, device: str, runs: int = 5) -> dict[str, float]:
    """Milliseconds per forward spent inside each attention module."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    totals: dict[str, float] = {}
    starts: dict[str, float] = {}
    handles = []
    for name, mod in model.named_modules():
        if type(mod).__name__ in ("SpatialGate", "ChannelAttention"):
            def pre(m, args, name=name):
                sync()
                starts[name] = time.perf_counter()

            def post(m, args, out, name=name):
                sync()
                totals[name] = totals.get(name, 0.0) + time.perf_counter() - starts[name]

            handles += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    try:
        model(x)  # warm-up, not counted
        totals.clear()
        for _ in range(runs):
            model(x)
    finally:
        for h in handles:
            h.remove()
    return {k: v / runs * 1e3 for k, v in sorted(totals.items())}


def _graph_ms(model, x, timer) -> float | None:
    if not timer.cuda:
        return None
    return timer.graph_per_call(lambda i: model(x), 1)


def bench_msfan(device: str, width: float, kinds: list[str], timer, batches=None, rounds: int = 3) -> list[dict]:
    from edgefashion.models import create_model

    batches = batches or ((1, 8) if device == "cuda" else (1,))
    rows = []
    for kind in kinds:
        dtype = DTYPES[kind]
        model = create_model("msfan", 50, 1000, width=width, input_size=224).eval().to(device=device, dtype=dtype)
        for batch in batches:
            x = torch.randn(batch, 3, 224, 224, device=device).to(dtype)
            row = {"dtype": kind, "batch": batch, "width": width}
            outs = {}
            with torch.inference_mode():
                for _ in range(rounds):
                    for impl in ("reference", "fused"):
                        with ops.set_impl(impl):
                            ms = timer.per_call(lambda i: model(x), 1)
                            stages = _stage_times(model, x, device)
                            graph = _graph_ms(model, x, timer)
                            outs[impl] = model(x)
                        row[f"{impl}_ms"] = min(ms, row.get(f"{impl}_ms", ms))
                        best = row.setdefault(f"{impl}_stages_ms", stages)
                        row[f"{impl}_stages_ms"] = {k: min(v, best[k]) for k, v in stages.items()}
                        if graph is not None:
                            row[f"{impl}_graph_ms"] = min(graph, row.get(f"{impl}_graph_ms", graph))
            row["gain"] = row["reference_ms"] / row["fused_ms"]
            if "fused_graph_ms" in row:
                row["graph_gain"] = row["reference_graph_ms"] / row["fused_graph_ms"]
            row["stage_gain"] = {k: row["reference_stages_ms"][k] / v for k, v in row["fused_stages_ms"].items()}
            row["attention_ms"] = {impl: sum(row[f"{impl}_stages_ms"].values()) for impl in ("reference", "fused")}
            row["max_abs_diff"] = {k: float((outs["fused"][k].float() - outs["reference"][k].float()).abs().max())
                                   for k in outs["fused"]}
            rows.append(row)
            print(msfan_table([row]).splitlines()[-1], flush=True)
    return rows


def msfan_table(rows: list[dict]) -> str:
    head = (f"{'MSFAN':<8}{'dtype':<6}{'batch':>6}{'ref ms':>10}{'fused ms':>10}{'gain':>7}{'graph gain':>11}"
            "  per-stage gain (attention modules)")
    lines = [head, "-" * len(head)]
    for r in rows:
        stages = " ".join(f"{k.replace('channel_att.', 'ca').replace('gates.', 'g')}={v:.2f}"
                          for k, v in r["stage_gain"].items())
        lines.append(f"{'w' + str(r['width']):<8}{r['dtype']:<6}{r['batch']:>6}{r['reference_ms']:>10.2f}"
                     f"{r['fused_ms']:>10.2f}{r['gain']:>7.2f}{r.get('graph_gain', float('nan')):>11.2f}  {stages}")
    return "\n".join(lines)
