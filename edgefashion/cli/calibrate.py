"""edgefashion calibrate MODEL --data DATA: fit the temperatures of a model already trained (or
refit them on other labelled photos) and write a copy of the file that carries them."""
from __future__ import annotations

import math
from pathlib import Path

from edgefashion.cli.common import LAYOUTS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="fit score temperatures on labelled photos; write a copy of the model with them",
        description="Run MODEL (.pt or .onnx) on a labelled split, fit one temperature per softmax head "
        "(the category, each exclusive group) and write a copy whose schema carries them; each head's "
        "answer stays the same, only its score changes. `edgefashion train` does this on its "
        "validation split already; this is for files trained before, or to refit on photos closer to "
        "where the model runs. Use photos the model was not trained on.")
    p.add_argument("model", help="checkpoint (.pt) or ONNX (.onnx, any precision)")
    p.add_argument("--data", required=True, help="labelled dataset root")
    p.add_argument("--split", choices=["train", "val", "test", "all"],
                   help="as for `edgefashion evaluate`: default 'val', or 'all' for a folder with no "
                        "training part")
    p.add_argument("--layout", default="auto", choices=LAYOUTS)
    p.add_argument("--prior", type=float, help="weight of (log T)^2 in the fit (default 10)")
    p.add_argument("--threads", type=int)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("-o", "--out", help="the copy to write (default MODEL's name + .calibrated; "
                                       "give MODEL itself to replace it)")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.cli.evaluate import format_calibration
    from edgefashion.data.splits import load_split, resolve_split
    from edgefashion.errors import BadInput
    from edgefashion.export.with_schema import write_with_schema
    from edgefashion.runtime.predictor import Predictor
    from edgefashion.training.evaluate import collect_outputs
    from edgefashion.training.temperature import (PRIOR, apply_temperatures, calibration_report,
                                                  fit_temperatures, softmax_heads)

    model = Path(args.model)
    if model.suffix not in (".pt", ".onnx"):
        raise BadInput(f"{str(model)!r}: calibrate a checkpoint (.pt) or an ONNX file (.onnx); for an "
                       "engine or OpenVINO model, calibrate the .onnx it was made from and build it again")
    prior = PRIOR if args.prior is None else float(args.prior)
    if not (math.isfinite(prior) and prior >= 0):
        raise BadInput(f"--prior {args.prior} must be a finite number >= 0")
    predictor = Predictor(model, batch_size=args.batch_size, threads=args.threads)
    if predictor.schema.num_categories < 2 and not predictor.schema.softmax_groups:
        raise BadInput(f"{str(model)!r} has no softmax head to calibrate (one category, no exclusive "
                       "group trained as a softmax); its sigmoid attributes use tuned thresholds")
    split = resolve_split(args.data, args.split, args.layout)
    _, samples = load_split(args.data, split, args.layout, schema=predictor.schema)
    outs = collect_outputs(predictor.infer, samples, predictor.preprocess_config, args.batch_size,
                           progress=True)
    if not softmax_heads(outs, predictor.schema):
        raise BadInput(f"no photo of {args.data} (split {split}) labels the category or an exclusive "
                       "group of this model; calibrate on photos that do")
    fitted = fit_temperatures(outs, predictor.schema, prior)
    schema = apply_temperatures(predictor.schema, fitted)
    out = Path(args.out) if args.out else model.with_name(f"{model.stem}.calibrated{model.suffix}")
    predictor.close()
    write_with_schema(model, out, schema)
    print("\n".join(format_calibration({"calibration": calibration_report(outs, schema)})))
    kept = [h for h in ["category", *predictor.schema.softmax_groups] if h not in fitted
            and (h != "category" or predictor.schema.num_categories > 1)]
    if kept:
        print(f"no labelled rows here for {', '.join(kept)}: kept their temperatures")
    print(f"fitted on {len(samples)} images (split {split}) of {args.data}: figures on the photos "
          f"the temperatures were fitted on flatter them; wrote {out}")
    return 0
