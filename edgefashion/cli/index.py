"""edgefashion index DIR -o index.npz --model m.onnx [--attribute A ...]: embed images for search."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "index", help="embed a folder of images into a retrieval index (.npz)",
        description="Embed every image under DIR with a model that outputs an embedding (m2fashion, "
                    "multibranch). True labels are kept when DIR is a labelled dataset (styles.csv, "
                    "or one folder per category of the model's schema); predictions always.")
    p.add_argument("dir", help="folder of images (searched recursively), list file or glob")
    p.add_argument("-o", "--output", default="index.npz", help="index file to write")
    p.add_argument("--model", required=True, help=".onnx / .pt / .engine model with an embedding")
    p.add_argument("--attribute", action="append", default=[], metavar="NAME",
                   help="also store attribute-specific embeddings: an attribute (floral) or a group "
                        "(texture); repeatable")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--backend", default="auto")
    p.add_argument("--device")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.retrieval import build_index
    from edgefashion.runtime.predictor import Predictor

    predictor = Predictor(args.model, backend=args.backend, device=args.device,
                          batch_size=args.batch_size)
    paths, categories, attributes, source = dataset_labels(args.dir, predictor.schema)
    index = build_index(predictor, paths, args.attribute, categories, attributes,
                        meta={"model": str(Path(args.model).resolve()), "root": str(args.dir),
                              "model_name": (predictor.metadata or {}).get("model"),
                              "labels": source})
    out = index.save(args.output)
    dim = index.embeddings[""].shape[1]
    conds = f"; attribute-specific: {', '.join(index.conditions)}" if index.conditions else ""
    skipped = index.meta.get("skipped", 0)
    print(f"wrote {out}: {len(index)} images ({skipped} unreadable, skipped), {dim}-d embeddings, "
          f"labels: {source}{conds}")
    return 0


def dataset_labels(src: str | Path, schema):
    """-> (paths, true categories or None, true attributes or None, description of the labels).

    A folder with styles.csv is read as Fashion Product Images (in ``schema``'s names); a folder whose
    image sub-folders are all categories of ``schema`` gives each image its folder's category.
    Anything else (a plain folder, list file or glob) is indexed with predicted labels only.
    """
    import numpy as np

    from edgefashion.data.imagelist import read_image_list

    root = Path(src)
    if (root / "styles.csv").is_file():
        from edgefashion.data.fashion_product import read_fashion_product
        from edgefashion.data.sample import attribute_matrix

        _, samples = read_fashion_product(root, schema=schema)
        return ([s.path for s in samples], np.asarray([s.category for s in samples]),
                attribute_matrix(samples, schema.num_attributes), "true (styles.csv)")
    paths = read_image_list(src)
    names = {n: i for i, n in enumerate(schema.category_names)}
    if root.is_dir():
        parents = [p.parent.name for p in paths]
        if all(n in names for n in parents):
            return paths, np.asarray([names[n] for n in parents]), None, "true category (folders)"
    return paths, None, None, "predicted"
