"""edgefashion predict MODEL IMAGES...: a table, JSON lines or CSV; optional annotated images."""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict category and attributes for images")
    p.add_argument("model", help=".onnx (ONNX Runtime), .pt (PyTorch) or .engine (TensorRT)")
    p.add_argument("images", nargs="+", help="image files, folders or globs")
    p.add_argument("--format", default="table", choices=["table", "jsonl", "csv"])
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--threshold", type=float, help="one attribute threshold for all attributes")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--backend", default="auto")
    p.add_argument("--device")
    p.add_argument("--schema", help="LabelSchema JSON, for an ONNX file without edgefashion metadata")
    p.add_argument("--rebuild", action="store_true", help="a TensorRT engine built for another "
                   "TensorRT / GPU is rebuilt from the ONNX its sidecar records (accuracy-gated)")
    p.add_argument("--self-test", action="store_true",
                   help="check the model on the reference inputs it carries before predicting")
    p.add_argument("--save-vis", metavar="DIR", help="write images with labels and attention overlaid "
                   "(the class activation map \"cam\" when the model has one, else the gates)")
    p.add_argument("-o", "--output", help="write the results here instead of standard output")
    p.set_defaults(run=run)


def expand_images(items: list[str]) -> list[Path]:
    from edgefashion.data.imagelist import read_image_list

    return [p for item in items for p in read_image_list(item)]


def run(args) -> int:
    from edgefashion.errors import BadInput
    from edgefashion.runtime.backends.base import REGISTRY
    from edgefashion.runtime.predictor import Predictor

    extra = {}
    trt_suffixes = REGISTRY["tensorrt"].suffixes
    if args.rebuild and Path(args.model).suffix.lower() not in trt_suffixes:
        raise BadInput(f"--rebuild applies to TensorRT engines ({' / '.join(trt_suffixes)}) only; "
                       f"{args.model!r} is not one: drop --rebuild")
    if args.rebuild:  # TensorRT engines only; the runtime does not import the builder, so it is handed in
        from edgefashion.engine.builder import rebuild_engine

        extra = {"rebuild_on_mismatch": rebuild_engine}
    predictor = Predictor(args.model, backend=args.backend, device=args.device,
                          batch_size=args.batch_size, schema=args.schema, self_test=args.self_test,
                          **extra)
    paths = expand_images(args.images)
    preds = predictor([str(p) for p in paths], top_k=args.top_k, threshold=args.threshold)
    text = render(preds, args.format, args.top_k)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    if args.save_vis:
        n = save_visualisations(preds, args.save_vis, predictor.preprocess_config)
        print(f"wrote {n} annotated images to {args.save_vis}")
    t = predictor.last_timings
    failed = sum(not p.ok for p in preds)
    print(f"{len(preds)} images ({failed} failed) in {t['total']:.0f} ms: preprocess "
          f"{t['preprocess']:.0f} ms, inference {t['inference']:.0f} ms, postprocess "
          f"{t['postprocess']:.0f} ms  [{predictor.backend.name}]", file=sys.stderr)
    return 1 if failed == len(preds) else 0


def render(preds, fmt: str, top_k: int) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(p.to_dict(scores=False)) + "\n" for p in preds)
    rows = [_row(p, top_k, error_last=fmt == "table") for p in preds]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["image"])
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
    return table(rows)


def _row(p, top_k: int, error_last: bool = False) -> dict:
    if not p.ok:  # the table writes its last column whole: the error goes there
        return {"image": p.source, "category": "ERROR", "score": "",
                "top-k": "" if error_last else str(p.error), "attributes": str(p.error) if error_last else ""}
    top = ", ".join(f"{n} {s:.2f}" for n, s in p.category.top(top_k))
    answers = {g: f"{v} {s:.2f}" for g, (v, s) in p.groups.items()}  # exclusive groups' answers
    attrs = "; ".join(f"{g}: {answers[g] if g in answers else ', '.join(v)}"
                      for g, v in p.attributes.items() if v or g in answers)
    return {"image": p.source, "category": p.category.label,
            "score": f"{p.category.score:.3f}", "top-k": top, "attributes": attrs or "-"}


def table(rows: list[dict]) -> str:
    """Columns left-aligned, at most 60 characters wide, except the last (the attributes, or an
    error), which is written whole; an image path is clipped from the left (its file name stays),
    other cells from the right."""
    if not rows:
        return "(no images)\n"
    cols = list(rows[0])
    width = {c: min(60, max(len(c), *(len(str(r[c])) for r in rows))) for c in cols[:-1]}
    width[cols[-1]] = max(len(cols[-1]), *(len(str(r[cols[-1]])) for r in rows))
    line = "  ".join(c.ljust(width[c]) for c in cols).rstrip()
    out = [line, "  ".join("-" * min(60, width[c]) for c in cols)]
    for r in rows:
        cells = [_clip(str(r[c]), width[c], left=c == "image").ljust(width[c]) for c in cols[:-1]]
        out.append("  ".join(cells + [str(r[cols[-1]])]).rstrip())
    return "\n".join(out) + "\n"


def _clip(s: str, n: int, left: bool = False) -> str:
    if len(s) <= n:
        return s
    return "..." + s[-(n - 3):] if left else s[:n - 3] + "..."


def save_visualisations(preds, out_dir: str | Path, preprocess=None) -> int:
    import cv2

    from edgefashion.runtime.images import load_image
    from edgefashion.runtime.visualize import draw_prediction

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for i, p in enumerate(preds):
        if not p.ok:
            continue
        src = Path(p.source)
        img = draw_prediction(load_image(src), p, preprocess=preprocess)
        cv2.imwrite(str(out_dir / f"{i:04d}_{src.stem}.jpg"), img)
        n += 1
    return n
