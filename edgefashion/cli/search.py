"""edgefashion search INDEX QUERY [--attribute A] [-k 10]: ranked images; --evaluate: mAP."""
from __future__ import annotations

import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "search", help="find the images of an index most similar to a query image",
        description="Cosine top-k over an index written by `edgefashion index`. With --attribute the "
                    "query and the index use their attribute-specific embeddings (M2Fashion). "
                    "--evaluate prints the leave-one-out mAP over the index instead.")
    p.add_argument("index", help="index .npz written by `edgefashion index`")
    p.add_argument("query", nargs="?", help="query image (not needed with --evaluate)")
    p.add_argument("--attribute", metavar="NAME",
                   help="attribute-specific search: an attribute (floral) or a group (texture) the "
                        "index was built with")
    p.add_argument("-k", "--top-k", type=int, default=10)
    p.add_argument("--model", help="model for the query (default: the one the index was built with)")
    p.add_argument("--evaluate", action="store_true", help="mAP over the index, as in the papers")
    p.add_argument("--baseline", action="store_true",
                   help="with --evaluate --attribute: rank with the plain embedding (for comparison)")
    p.add_argument("--format", default="table", choices=["table", "json"])
    p.add_argument("--backend", default="auto")
    p.add_argument("--device")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.errors import BadInput
    from edgefashion.retrieval import RetrievalIndex, evaluate_index, search_image

    index = RetrievalIndex.load(args.index)
    if args.evaluate:
        report = evaluate_index(index, args.attribute, baseline=args.baseline)
        if args.format == "json":
            print(json.dumps(report))
        else:
            print(f"mAP {report['map']:.4f} over {report['queries']} queries of {report['images']} "
                  f"images (relevant: {report['relevance']}; ranked by the {report['embedding']} "
                  f"embedding; {report['images_with_true_labels']} images with true labels, the "
                  "rest predicted)")
        if args.query is None:
            return 0
    if args.query is None:
        raise BadInput("give a query image (or --evaluate for the index's mAP)")
    from edgefashion.runtime.predictor import Predictor

    model = args.model or index.meta.get("model")
    if not model:
        raise BadInput("the index does not record its model; pass --model")
    predictor = Predictor(model, backend=args.backend, device=args.device)
    hits = search_image(predictor, index, args.query, args.top_k, args.attribute)
    if args.format == "json":
        print(json.dumps([h.to_dict() for h in hits]))
        return 0
    from edgefashion.cli.predict import table

    rows = [{"rank": h.rank, "score": f"{h.score:.4f}", "image": h.path,
             "category": h.labels["category"] or "-", "labels": h.labels["labels"],
             "attributes": ", ".join(h.labels["attributes"]) or "-"}  # last: the table never clips it
            for h in hits]
    sys.stdout.write(table(rows))
    return 0
