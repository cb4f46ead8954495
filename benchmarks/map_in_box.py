"""Do a model's maps point at the garment? Mass-in-box share of every map output on real photos.

    python benchmarks/map_in_box.py runs/m/best.pt --data ../shared/data/deepfashion-fine-attr \
        --split val --threads 1 --json benchmarks/results/map_in_box_msfan_lite.json

The model runs on the WHOLE photo (no box crop); the split's ground-truth box (``<split>_bbox.txt``,
pixels of the original image) is mapped into model-input coordinates through the same resize the
preprocessing does (runtime/map_measure.py). Per map output (gate*, attention*, cam), plus
``gates_combined`` (the old default overlay: the gates min-max normalised and averaged) and
``centre_prior`` (a Gaussian at the input centre, sigma 1/4 of the side: what "looks at the middle"
scores on centred product photos), over the images: the mean share of the map's mass inside the box,
the mean box-area share, the fraction of images whose mass share exceeds their area share
("points at"), and the fraction whose mass share exceeds the centre prior's ("beats centre").
Prints a table; writes JSON with the machine, versions and date.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402


def centre_prior(size: int = 32, sigma: float = 0.25) -> np.ndarray:
    """(size, size) Gaussian at the centre of the input; sigma as a fraction of the side."""
    c = (np.arange(size) + 0.5) / size - 0.5
    return np.exp(-(c[:, None] ** 2 + c[None, :] ** 2) / (2 * sigma ** 2)).astype(np.float32)


def measure(model: str, data: str, split: str, threads: int | None, limit: int | None,
            batch: int = 8) -> tuple[dict, dict]:
    """-> ({map name: summary}, info about the run)."""
    from edgefashion.data.fine_attr import read_fine_attr
    from edgefashion.errors import DatasetError
    from edgefashion.runtime.images import load_image
    from edgefashion.runtime.map_measure import box_to_input, map_in_box, summarise
    from edgefashion.runtime.predictor import Predictor
    from edgefashion.runtime.visualize import combine_gates

    _, samples = read_fine_attr(data, split)
    samples = [s for s in samples if s.bbox is not None][:limit]
    if not samples:
        raise DatasetError(f"{data} split {split!r} has no images with a garment box "
                           f"(split/{split}_bbox.txt); the measure needs one per image")
    pred = Predictor(model, threads=threads, batch_size=batch)
    cfg, prior = pred.preprocess_config, centre_prior()
    rows: dict[str, list] = {}
    shapes: dict[str, list] = {}
    for start in range(0, len(samples), batch):
        part = samples[start:start + batch]
        images = [load_image(s.path) for s in part]
        for s, img, r in zip(part, images, pred(images)):  # no bboxes: the whole photo
            if not r.ok:
                raise DatasetError(f"{s.path}: prediction failed: {r.error}")
            box = box_to_input(s.bbox, img.shape, cfg)
            gates = {k: v for k, v in r.gates.items() if k.startswith("gate")}
            maps = {**r.gates, "centre_prior": prior}
            if gates:
                maps["gates_combined"] = combine_gates(gates)
            for name, m in maps.items():
                rows.setdefault(name, []).append(map_in_box(m, box))
                shapes[name] = list(np.shape(m))
    info = {"model": str(model), "data": str(data), "split": split, "images": len(samples),
            "preprocess": cfg.to_dict(), "backend": pred.backend.name, "map_shapes": shapes}
    centre = [r.mass_share for r in rows["centre_prior"]]
    summary = {k: summarise(v) for k, v in rows.items()}
    for k, v in rows.items():  # per image: more mass in the box than the centre prior puts there
        summary[k]["beats_centre"] = float(np.mean([r.mass_share > c for r, c in zip(v, centre)]))
    return summary, info


def table(summary: dict) -> str:
    lines = [f"{'map':<16} {'n':>4} {'mass in box':>12} {'box area':>9} {'points at':>10} "
             f"{'beats centre':>13}"]
    for name, s in summary.items():
        if s["n"] == 0:
            lines.append(f"{name:<16} {0:>4} {'(all-zero maps)':>33}")
            continue
        lines.append(f"{name:<16} {s['n']:>4} {s['mass_share']:>12.3f} {s['area_share']:>9.3f} "
                     f"{s['points_at']:>10.2f} {s['beats_centre']:>13.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help=".onnx or .pt model file")
    ap.add_argument("--data", required=True, help="a DeepFashion fine-attribute root with boxes")
    ap.add_argument("--split", default="val")
    ap.add_argument("--threads", type=int, help="inference threads (ONNX Runtime / torch)")
    ap.add_argument("--limit", type=int, help="measure at most N images")
    ap.add_argument("--json", help="output JSON path (default benchmarks/results/map_in_box_<model>.json)")
    ap.add_argument("--note", help="how the model was made (recorded in the JSON)")
    args = ap.parse_args(argv)
    if args.threads:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    summary, info = measure(args.model, args.data, args.split, args.threads, args.limit)
    print(table(summary))
    path = write_result(f"map_in_box_{Path(args.model).stem}", {**info, "note": args.note, "maps": summary}, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
