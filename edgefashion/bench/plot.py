"""Latency distribution plot: one panel per batch size, one box (with the samples) per variant."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from edgefashion.errors import BackendUnavailable, BadInput


def plot_latency(result: Mapping, out: str | Path, title: str | None = None) -> Path:
    """Write a PNG of the end-to-end latency samples of ``result`` (a suite result); -> its path."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise BackendUnavailable(f"plotting needs matplotlib ({e}); pip install matplotlib") from e
    rows = [r for r in result["results"] if r.get("samples_ms")]
    if not rows:
        raise BadInput("no latency samples to plot; run the suite with samples kept")
    batches = sorted({r["batch"] for r in rows})
    fig, axes = plt.subplots(1, len(batches), figsize=(4.5 * len(batches) + 1, 4.2), squeeze=False)
    for ax, b in zip(axes[0], batches):
        sel = [r for r in rows if r["batch"] == b]
        data = [r["samples_ms"]["e2e"] for r in sel]
        labels = [r["variant"] for r in sel]
        ax.boxplot(data, whis=(1, 99), showfliers=False)
        for i, xs in enumerate(data, 1):  # every sample, jittered, over the box
            jitter = [i + 0.12 * ((k * 7919) % 13 / 6.5 - 1) for k in range(len(xs))]
            ax.plot(jitter, xs, ".", alpha=0.35, markersize=3, color="tab:blue")
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"batch {b}")
        ax.set_ylabel("end-to-end latency (ms)")
        if max(max(d) for d in data) / max(1e-9, min(min(d) for d in data)) > 20:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    env = result.get("environment", {})
    model = result.get("model", {}).get("name") or result.get("model", {}).get("file", "")
    fig.suptitle(title or f"{model} — {env.get('cpu', '')} — {env.get('date', '')[:10]} "
                 "(box: p25-p75, whiskers: p1-p99)", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
