"""msfan_lite vs plain EfficientNet-Lite0 vs MSFAN (VGG-16): ONNX Runtime fp32 latency, side by side.

    python benchmarks/bench_msfan_lite.py --threads 2 --json benchmarks/results/msfan_lite_latency_cpu.json

224 x 224, batch 1, clothing-small's heads (10 categories, no attributes). Every model is exported
with the project's exporter (checked against PyTorch); "lite0" is timm's tf_efficientnet_lite0
classifier with a 10-class head (the plain fine-tune baseline). On a shared machine the absolute
numbers move with the load, so the models are timed in interleaved rounds (one block of calls each,
round after round) and the JSON keeps every round, the medians and the load average before and after;
compare the ratios. Target (issue 10): msfan_lite <= 15 ms p50 on 2 threads.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_info, time_fn  # noqa: E402

CONFIGS = {  # name -> (registry model or None for plain timm Lite0, options)
    "msfan_lite": ("msfan_lite", {}),
    "msfan_lite_plain_product": ("msfan_lite", {"product": "plain"}),
    "msfan_lite_stages23": ("msfan_lite", {"stages": (2, 3)}),   # no stride-4 level: cheaper
    "lite0": (None, {}),
    "msfan_w1.0": ("msfan", {"width": 1.0}),
}


def _plain_lite0(num_classes: int, size: int, path: Path) -> None:
    """timm tf_efficientnet_lite0 -> ONNX (opset 17, dynamic batch, onnxslim) like export_onnx."""
    import onnx
    import onnxslim
    import timm
    import torch

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes).eval()
    raw = path.with_suffix(".raw.onnx")
    with torch.no_grad():
        torch.onnx.export(net, (torch.zeros(1, 3, size, size),), str(raw), input_names=["image"],
                          output_names=["category_logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"image": {0: "batch"}, "category_logits": {0: "batch"}})
    onnx.save(onnxslim.slim(onnx.load(str(raw))), str(path))


def _export(key: str, size: int, tmp: Path) -> tuple[Path, float]:
    import torch

    from edgefashion.export.onnx import export_onnx
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig

    name, opts = CONFIGS[key]
    path = tmp / f"{key}.onnx"
    torch.manual_seed(0)
    if name is None:
        _plain_lite0(10, size, path)
        import timm

        net = timm.create_model("tf_efficientnet_lite0", num_classes=10)
        params = sum(p.numel() for p in net.parameters())
        return path, params / 1e6
    schema = LabelSchema.simple([f"c{i}" for i in range(10)])
    model = create_model(name, 10, 0, input_size=size, **opts).eval()
    export_onnx(model, schema, PreprocessConfig(input_size=size), path, self_test=False)
    return path, sum(p.numel() for p in model.parameters()) / 1e6


def _session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(CONFIGS), help=f"comma-separated from {list(CONFIGS)}")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20, help="calls per model per round")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    keys = args.models.split(",")
    x = np.random.default_rng(0).standard_normal((1, 3, args.size, args.size)).astype(np.float32)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        info, sessions = {}, {}
        for key in keys:
            path, params = _export(key, args.size, Path(tmp))
            info[key] = {"params_m": round(params, 2), "onnx_mb": round(path.stat().st_size / 1e6, 1)}
            sessions[key] = _session(path, args.threads)
            print(f"exported {key}: {info[key]}", flush=True)
        rounds = {k: [] for k in keys}
        for r in range(args.rounds):
            for key in keys:
                sess = sessions[key]
                iters = max(3, args.iters // 10) if key.startswith("msfan_w") else args.iters
                stats = time_fn(lambda: sess.run(None, {"image": x}), warmup=2, iters=iters)
                rounds[key].append(stats)
            line = ", ".join(f"{k} {rounds[k][-1]['p50_ms']:.1f}" for k in keys)
            print(f"round {r + 1}: {line}", flush=True)
    results = []
    for key in keys:
        p50 = statistics.median(s["p50_ms"] for s in rounds[key])
        best = min(s["min_ms"] for s in rounds[key])
        results.append({"model": key, **info[key], "p50_ms_median_of_rounds": round(p50, 2),
                        "min_ms": round(best, 2), "rounds": rounds[key]})
    base = {r["model"]: r["p50_ms_median_of_rounds"] for r in results}
    if "lite0" in base:
        for r in results:
            r["vs_lite0"] = round(r["p50_ms_median_of_rounds"] / base["lite0"], 2)
    doc = {"benchmark": "msfan_lite_latency", "machine": machine_info(),
           "settings": {"threads": args.threads, "batch": 1, "size": args.size, "rounds": args.rounds,
                        "iters_per_round": args.iters, "backend": "onnxruntime CPU fp32",
                        "heads": "10 categories, 0 attributes"},
           "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg()),
           "target": "msfan_lite p50 <= 15 ms", "results": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    for r in results:
        print(json.dumps({k: r[k] for k in r if k != "rounds"}))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
