"""edgefashion tag SOURCE -o OUT.parquet --model M [--runner local|ray]: tag a catalog, resumable."""
from __future__ import annotations

import json

from edgefashion.cli.common import add_quiet_flag, add_runner_flag, quiet_of, runner_of


def add_parser(sub) -> None:
    p = sub.add_parser("tag", help="tag every image of a folder / list / table into Parquet "
                                   "(resumable; local threads or a Ray cluster)")
    p.add_argument("source", help="a folder, glob, list file (one path per line), Parquet / CSV with "
                                  "a path column, or an fsspec URL of one (s3://...)")
    p.add_argument("-o", "--output", required=True,
                   help="output Parquet dataset folder (OUT.parquet/part-*.parquet); rows already "
                        "there are skipped")
    p.add_argument("--model", required=True, help=".onnx, .pt, .engine or OpenVINO .xml model")
    add_runner_flag(p, 'local: threads, no Ray; ray: Ray Data actors (pip install "edgefashion[ray]")')
    p.add_argument("--address", help="Ray cluster address (auto, ray://head:10001); default: start "
                                     "a local Ray")
    p.add_argument("--actors", "--workers", dest="workers", type=int, default=1,
                   help="Predictors working at once (Ray actors, or local threads)")
    p.add_argument("--cpus-per-actor", dest="cpus_per_worker", type=float,
                   help="CPUs each Ray actor reserves (default: share the cluster, leaving 0.5 CPU)")
    p.add_argument("--gpus-per-actor", dest="gpus_per_worker", type=float, default=0.0)
    p.add_argument("--ray-cpus", type=int, help="CPUs of the local Ray started without --address")
    p.add_argument("--batch-size", type=int, default=16, help="images per inference")
    p.add_argument("--block-size", type=int, default=256,
                   help="images per block: the unit of work, retry and output part")
    p.add_argument("--threads", type=int, help="ONNX Runtime threads per Predictor")
    p.add_argument("--decode-threads", type=int, default=2, help="image readers per Predictor")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--threshold", type=float, help="one attribute threshold for all attributes")
    p.add_argument("--path-column", help="the path column of a Parquet / CSV source")
    p.add_argument("--backend", default="auto")
    p.add_argument("--device")
    p.add_argument("--overwrite", action="store_true", help="delete OUT first instead of resuming")
    add_quiet_flag(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.tag import TagOptions, tag_images

    opts = TagOptions(
        engine=runner_of(args), block_size=args.block_size, batch_size=args.batch_size,
        top_k=args.top_k, threshold=args.threshold, workers=args.workers,
        cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
        threads=args.threads, decode_threads=args.decode_threads, backend=args.backend,
        device=args.device, address=args.address, ray_cpus=args.ray_cpus, progress=not quiet_of(args),
        overwrite=args.overwrite, path_column=args.path_column)
    summary = tag_images(args.source, args.output, args.model, opts)
    print(json.dumps(summary.to_dict()) if args.json else str(summary), flush=True)
    return 0
