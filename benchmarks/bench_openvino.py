"""CPU backends side by side: PyTorch eager, ONNX Runtime and OpenVINO on the same ONNX files, one run.

    python benchmarks/bench_openvino.py                               # MSFAN w1.0 + the edge models
    python benchmarks/bench_openvino.py --models msfan --rounds 9 --agree-images 341

For each model (224 x 224, batch 1, ``--threads`` threads, DeepFashion-C heads: 50 categories, 1000
attributes, random weights unless ``--checkpoint``): the checkpoint is exported to ONNX with the
project's exporter and quantized with ``edgefashion.precision.quantize_onnx`` (int8 Q/DQ, minmax,
calibrated on clothing-small/train; the TensorRT layout with int8 activations, and the ONNX Runtime
layout with uint8 activations, Q/DQ and QOperator). Variants: PyTorch eager fp32; ORT fp32, ORT int8
Q/DQ (s8, as the artifact is), ORT int8 Q/DQ with ``session.qdqisint8allowed=1``, ORT int8 Q/DQ u8,
ORT int8 QOperator u8; OV fp32, OV bf16 hint, OV int8 Q/DQ, OV int8 Q/DQ + bf16. Timing interleaves the
variants round by round (one call of
each per round, median over ``--rounds``) so that load changes on a shared machine hit all alike;
ratios are to PyTorch eager in the same run. For each ORT int8 file the optimised graph is counted
(int8 kernels vs Conv / Gemm). Agreement: top-1 / top-3 of every variant vs the fp32 ONNX on
clothing-small/validation photos. Writes benchmarks/results/openvino_<name>.json and prints a table.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentile, write_result  # noqa: E402
from openvino_models import ORT_S8, make_models, ort_int8_graph  # noqa: E402

# name -> (backend spec, which file, backend options)
VARIANTS = {
    "pytorch-fp32": ("pytorch", "pt", {}),
    "ort-fp32": ("onnxruntime", "fp32", {}),
    "ort-int8-qdq": ("onnxruntime", "int8", {}),
    "ort-int8-qdq-s8allowed": ("onnxruntime", "int8", {"session_config": ORT_S8}),
    "ort-int8-qdq-u8": ("onnxruntime", "int8u8", {}),
    "ort-int8-qoperator-u8": ("onnxruntime", "int8qop", {}),
    "ov-fp32": ("openvino", "fp32", {}),
    "ov-bf16": ("openvino:bf16", "fp32", {}),
    "ov-int8-qdq": ("openvino", "int8", {}),
    "ov-int8-qdq+bf16": ("openvino:bf16", "int8", {}),
}
EDGE_MODELS = ("msfan_student", "msfan_lite", "timm_lite0")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="msfan," + ",".join(EDGE_MODELS),
                    help="comma separated: msfan (w --width), msfan_student, msfan_lite, timm_lite0")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--checkpoint", help="a trained .pt to use instead of random weights (one model)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=9, help="timed calls per variant (median)")
    ap.add_argument("--agree-images", type=int, default=64, help="validation photos for agreement")
    ap.add_argument("--agree-skip", default="pytorch-fp32,ort-int8-qdq-s8allowed",
                    help="variants left out of the agreement pass (eager = the fp32 ONNX to 1e-5; "
                         "s8allowed = the same int8 math as ort-int8-qdq, only slower)")
    ap.add_argument("--num-calib", type=int, default=64)
    ap.add_argument("--workdir", help="keep exported / quantized files here (reused next time)")
    ap.add_argument("--name", help="result name (default: the models)")
    args = ap.parse_args(argv)
    from edgefashion.bench.inputs import default_image_dir, image_paths

    val = default_image_dir()
    if val is None:
        print("clothing-small not found (set EDGEFASHION_DATA)", file=sys.stderr)
        return 1
    calib = image_paths(val.parent / "train", args.num_calib)
    photos = image_paths(val, args.agree_images)
    variants = [v for v in args.variants.split(",") if v]
    args.files = sorted({VARIANTS[v][1] for v in variants})
    out = {"benchmark": "openvino", "settings": vars(args), "models": {}}
    with tempfile.TemporaryDirectory(prefix="bench-openvino-") as tmp:
        work = Path(args.workdir or tmp)
        for name in args.models.split(","):
            files = make_models(name, work, calib, args, log)
            if files is None:
                out["models"][name] = {"skipped": "model not in the registry (yet)"}
                continue
            out["models"][name] = bench_model(files, variants, photos, args)
            print(table(name, out["models"][name]), flush=True)
    path = write_result(f"openvino_{args.name or args.models.replace(',', '_')}", out)
    print(f"wrote {path}")
    return 0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def open_variants(files: dict, variants: list[str], threads: int) -> dict:
    from edgefashion.runtime.backends import load_backend

    opened, skipped = {}, {}
    for v in variants:
        spec, which, opts = VARIANTS[v]
        path = files.get(which)
        if path is None and which == "pt" and "torch_module" in files:
            opened[v] = TorchModule(files["torch_module"], threads)
            continue
        if path is None:
            skipped[v] = f"no {which} file for this model"
            continue
        try:
            opened[v] = load_backend(path, spec, threads=threads, **opts)
        except Exception as e:  # noqa: BLE001 - a variant that cannot run is recorded, not fatal
            skipped[v] = f"{type(e).__name__}: {e}"
    return opened, skipped


class TorchModule:
    """PyTorch eager for a plain module (no edgefashion checkpoint): ``infer`` like a Backend."""

    def __init__(self, module, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.torch, self.module = torch, module.eval()

    def dummy_inputs(self, batch: int) -> dict:
        import numpy as np

        return {"image": np.zeros((batch, 3, 224, 224), np.float32)}

    def infer(self, feeds: dict) -> dict:
        with self.torch.inference_mode():
            out = self.module(**{k: self.torch.from_numpy(v) for k, v in feeds.items()})
        return {k: v.numpy() for k, v in out.items()}

    def close(self) -> None:
        pass


def feeds_for(backend, image):
    feeds = backend.dummy_inputs(len(image))
    name = "image" if "image" in feeds else next(iter(feeds))
    feeds[name] = image
    return feeds


def bench_model(files: dict, variants: list[str], photos: list, args) -> dict:
    from edgefashion.runtime.images import load_image
    from edgefashion.runtime.preprocess import preprocess_batch

    opened, skipped = open_variants(files, variants, args.threads)
    x = preprocess_batch([load_image(photos[0])], files["preprocess"])
    feeds = {v: feeds_for(b, x) for v, b in opened.items()}
    for v, b in opened.items():  # warm-up: lazy init, kernel selection
        for _ in range(2):
            b.infer(feeds[v])
    samples = {v: [] for v in opened}
    loads = []
    for _ in range(args.rounds):
        loads.append(__import__("os").getloadavg()[0])
        for v, b in opened.items():
            t = time.perf_counter()
            b.infer(feeds[v])
            samples[v].append(1e3 * (time.perf_counter() - t))
    med = {v: percentile(s, 50) for v, s in samples.items()}
    base = med.get("pytorch-fp32") or med.get("ort-fp32")
    rows = {v: {"p50_ms": med[v], "min_ms": min(samples[v]), "samples_ms": samples[v],
                "vs_pytorch": base / med[v] if base else None,
                "vs_ort_fp32": med["ort-fp32"] / med[v] if "ort-fp32" in med else None,
                "precision": getattr(opened[v], "inference_precision", None)}
            for v in opened}
    skip = set(args.agree_skip.split(","))
    agreement = agree({v: b for v, b in opened.items() if v not in skip}, photos,
                      files["preprocess"]) if photos else {}
    for v, a in agreement.items():
        rows[v]["agreement"] = a
    graphs = {v: ort_int8_graph(files[VARIANTS[v][1]], args.threads, VARIANTS[v][2].get("session_config"))
              for v in opened if v.startswith("ort-int8")}
    for b in opened.values():
        b.close()
    return {"files": {k: str(v) for k, v in files.items() if k != "preprocess"},
            "info": files.get("info", {}), "rows": rows, "skipped": skipped,
            "ort_int8_graphs": graphs, "loadavg_during": loads}


def agree(opened: dict, photos: list, prep, batch: int = 8) -> dict:
    """Top-1 agreement, top-3 containment and min logits cosine of each variant vs ort-fp32."""
    import numpy as np

    from edgefashion.runtime.images import load_image
    from edgefashion.runtime.preprocess import preprocess_batch

    ref_name = "ort-fp32" if "ort-fp32" in opened else next(iter(opened))
    logits = {v: [] for v in opened}
    for i in range(0, len(photos), batch):
        x = preprocess_batch([load_image(p) for p in photos[i:i + batch]], prep)
        for v, b in opened.items():
            logits[v].append(b.infer(feeds_for(b, x))["category_logits"])
    ref = np.concatenate(logits[ref_name]).astype(np.float64)
    ref_top1 = ref.argmax(1)
    out = {}
    for v, parts in logits.items():
        got = np.concatenate(parts).astype(np.float64)
        top3 = np.argsort(-got, 1)[:, :3]
        cos = (ref * got).sum(1) / np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1), 1e-30)
        out[v] = {"images": len(got), "top1_agreement": float(np.mean(got.argmax(1) == ref_top1)),
                  "top3_contains_ref_top1": float(np.mean((top3 == ref_top1[:, None]).any(1))),
                  "logits_cosine_min": float(cos.min()), "max_abs": float(np.abs(got - ref).max())}
    return out


def table(name: str, res: dict) -> str:
    lines = [f"\n{name}: {res['info']}",
             f"{'variant':<24} {'p50 ms':>8} {'vs eager':>9} {'vs ORT':>7} {'top1 agr':>9} {'top3':>7} {'cos min':>8}"]
    for v, r in res["rows"].items():
        a = r.get("agreement", {})
        lines.append(f"{v:<24} {r['p50_ms']:>8.1f} {r['vs_pytorch'] or float('nan'):>8.2f}x "
                     f"{r['vs_ort_fp32'] or float('nan'):>6.2f}x {100 * a.get('top1_agreement', float('nan')):>8.1f}% "
                     f"{100 * a.get('top3_contains_ref_top1', float('nan')):>6.1f}% "
                     f"{a.get('logits_cosine_min', float('nan')):>8.4f}")
    for v, why in res["skipped"].items():
        lines.append(f"{v:<24} skipped: {why}")
    for v, g in res["ort_int8_graphs"].items():
        lines.append(f"{v:<24} ORT graph: {g.get('int8_kernels')} int8 kernels / {g.get('conv_gemm_total')} Conv+Gemm")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
