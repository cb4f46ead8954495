"""edgefashion inspect FILE: what a model file holds (model, labels, preprocessing, checks)."""
from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="show what a checkpoint / ONNX / engine file holds")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--self-test", action="store_true",
                   help="run the reference inputs the artifact carries; fail when its answers drift")
    p.set_defaults(run=run)


def run(args) -> int:
    info = describe_model_file(args.model)
    if getattr(args, "self_test", False):  # SelfTestError -> "error: self-test failed ...", exit 2
        from edgefashion.runtime.backends.base import load_backend
        from edgefashion.runtime.selftest import run_self_test

        st = run_self_test(load_backend(args.model))
        info["self-test"] = {"passed": st["passed"], "images": st["images"], "precision": st["precision"],
                             **{f"{k} cos": round(v["cosine_min"], 5) for k, v in st["outputs"].items()
                                if k.endswith("logits")}}
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value[:12])) + (f" ... ({len(value)})" if len(value) > 12 else "")
        print(f"{key:>14}: {value}")
    return 0


def describe_model_file(path: str | Path) -> dict:
    from edgefashion.errors import ModelFileError
    from edgefashion.runtime.backends.base import backend_name_for, check_model_file

    path = check_model_file(path)
    kind = backend_name_for(path)
    if kind == "pytorch":
        return _describe_checkpoint(path)
    if kind == "onnxruntime":
        return _describe_onnx(path)
    if kind == "tensorrt":  # the sidecar, read without TensorRT
        from edgefashion.runtime.tensorrt.sidecar import describe_engine

        return describe_engine(path)
    raise ModelFileError(f"inspect does not read {kind} files yet ({path})")


def _summary(meta: dict) -> dict:
    from edgefashion.labels import LabelSchema

    schema = LabelSchema.from_dict(meta["schema"])
    return {
        "model": meta.get("model"), "config": meta.get("model_config", {}),
        "categories": schema.category_names,
        "attributes": f"{schema.num_attributes} in groups "
                      + ", ".join(f"{g} ({len(i)})" for g, i in schema.group_indices().items()),
        "exclusive": list(schema.exclusive_groups), "preprocess": meta.get("preprocess", {}),
        "temperatures": {k: round(v, 4) for k, v in
                         {"category": schema.category_temperature, **schema.group_temperatures}.items()},
    }


def _describe_checkpoint(path: Path) -> dict:
    from edgefashion.models import read_checkpoint

    ckpt = read_checkpoint(path)
    st = ckpt.get("train_state") or {}
    params = sum(v.numel() for v in ckpt["state_dict"].values())
    out = {"file": str(path), "format": "edgefashion checkpoint", "parameters": f"{params / 1e6:.2f} M"}
    out.update(_summary({"model": ckpt["model"], **ckpt}))
    if st:
        out["training"] = {"epochs": st.get("epoch"), "steps": st.get("step"), "best_top1": st.get("best")}
    return out


def _describe_onnx(path: Path) -> dict:
    from edgefashion.runtime.backends.base import load_backend

    backend = load_backend(path, "onnxruntime")
    out = {"file": str(path), "format": "ONNX", "size": f"{path.stat().st_size / 1e6:.1f} MB",
           "inputs": [f"{n}{tuple(s.shape)}" for n, s in backend.input_specs.items()],
           "outputs": [f"{n}{tuple(s.shape)}" for n, s in backend.output_specs.items()]}
    meta = backend.metadata
    if not meta:
        out["metadata"] = "none (pass a LabelSchema to use it; re-export with edgefashion export)"
        return out
    out.update(_summary(meta))
    if "export" in meta:
        e = meta["export"]
        out["export check"] = {"images": e.get("num_images"), "real": e.get("real_images"),
                               "max_abs": max(e.get("max_abs", {0: 0}).values()),
                               "top1_agreement": e.get("top1_agreement")}
    return out
