"""edgefashion evaluate MODEL --data DIR: the papers' metrics for any model file (.pt, .onnx, ...)."""
from __future__ import annotations

from edgefashion.cli.common import LAYOUTS
from edgefashion.runtime.backends.base import BACKEND_HELP


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="category top-k; each attribute group's top-1 / macro-F1 "
                                        "(or mAP) beside its majority share")
    p.add_argument("model", help="checkpoint (.pt), ONNX (.onnx) or engine")
    p.add_argument("--data", required=True, help="dataset root (DeepFashion-C layout or folders)")
    p.add_argument("--split", choices=["train", "val", "test", "all"],
                   help="'all': every image of the folder (a separate test folder; for a fashion-product "
                        "folder, whose styles.csv has no split column, this is the way). Default: 'val', "
                        "or 'all' for a folder with no training part")
    p.add_argument("--layout", default="auto",
                   choices=LAYOUTS)
    p.add_argument("--backend", default="auto", help=BACKEND_HELP)
    p.add_argument("--device", help="cpu / cuda[:N]; OpenVINO: CPU, GPU, NPU, AUTO")
    p.add_argument("--threads", type=int, help="inference threads (ONNX Runtime, OpenVINO, PyTorch)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, help="evaluate at most N images")
    p.add_argument("-o", "--out", default="runs/eval", help="folder for report.json and report.png")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.data.splits import load_split, resolve_split
    from edgefashion.runtime.predictor import Predictor
    from edgefashion.training.evaluate import collect_outputs, evaluate_outputs, save_report

    predictor = Predictor(args.model, backend=args.backend, device=args.device,
                          batch_size=args.batch_size, threads=args.threads)
    split = resolve_split(args.data, args.split, args.layout)
    _, samples = load_split(args.data, split, args.layout, schema=predictor.schema)
    samples = samples[: args.limit] if args.limit else samples

    outs = collect_outputs(predictor.infer, samples, predictor.preprocess_config, args.batch_size, progress=True)
    report = evaluate_outputs(outs, predictor.schema)
    report.update({"model": str(args.model), "data": str(args.data), "split": split})
    paths = save_report(report, args.out)
    print(format_report(report))
    print(f"scored {report['num_images']} images (split {split}) of {args.data}")
    print(f"wrote {paths['json']} and {paths['png']}")
    return 0


def format_report(rep: dict) -> str:
    lines = [f"{rep['num_images']} images: category top-1 {_pct(rep['category_top1'])}  "
             f"top-3 {_pct(rep['category_top3'])}  top-5 {_pct(rep['category_top5'])}"]
    if rep.get("num_categories", 2) <= 1:
        lines = [f"{rep['num_images']} images (no categories)"]
    lines += format_groups(rep)
    for k in (3, 5):
        rec = rep.get(f"attribute_top{k}_recall")
        if rec:
            parts = "  ".join(f"{g} {_pct(v)}" for g, v in rec.items())
            lines.append(f"attribute top-{k} recall: {parts}")
    nd = rep.get("landmark_normalized_distance")
    if nd:
        parts = "  ".join(f"{n} {v:.4f}" for n, v in nd.items() if n != "overall")
        lines.append(f"landmark normalized distance: overall {nd['overall']:.4f}  ({parts})")
    if "jaccard_accuracy" in rep:
        lines.append(f"attribute groups, sample-level Jaccard accuracy: {_pct(rep['jaccard_accuracy'])}")
    lines += format_calibration(rep)
    return "\n".join(lines)


def format_calibration(rep: dict) -> list[str]:
    """How far the top answer's score is from how often it is right (ECE), and the NLL, with the
    model's temperatures and as trained (T = 1)."""
    cal = rep.get("calibration")
    if not cal:
        return []
    lines = [f"{'scores of':<16} {'temperature':>11} {'ECE':>7} {'at T=1':>7} {'NLL':>7} {'at T=1':>7}"]
    for head, c in cal.items():
        lines.append(f"{head:<16} {c['temperature']:>11.2f} {_pct(c['ece']):>7} {_pct(c['ece_raw']):>7} "
                     f"{c['nll']:>7.3f} {c['nll_raw']:>7.3f}")
    return lines


def format_groups(rep: dict) -> list[str]:
    """Exclusive groups: top-1 / macro-F1 beside the majority share; multi-label: mAP, F1."""
    groups = rep.get("groups", {})
    excl = {g: m for g, m in groups.items() if m["kind"] == "exclusive"}
    lines = []
    if excl:
        lines.append(f"{'group':<16} {'top-1':>7} {'macro-F1':>9} {'majority':>9} {'images':>7}")
        for g, m in excl.items():
            lines.append(f"{g:<16} {_pct(m['top1']):>7} {_pct(m['macro_f1']):>9} "
                         f"{_pct(m['majority_share']):>9} {m['num_images']:>7}")
        lines.append(f"{'mean':<16} {_pct(rep['group_top1_mean']):>7} "
                     f"{_pct(rep['group_macro_f1_mean']):>9} {_pct(rep['group_majority_mean']):>9}")
    for g, m in groups.items():
        if m["kind"] == "multi-label":
            lines.append(f"{g} (multi-label): mAP {_pct(m['map'])}, mean F1 at the thresholds "
                         f"{_pct(m['mean_f1'])}")
    return lines


def _pct(v: float) -> str:
    return "n/a" if v != v else f"{100 * v:.1f}%"
