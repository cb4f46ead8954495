"""One tolerance table per dtype / backend comparison (atol, rtol)."""
from __future__ import annotations

TOLERANCES = {
    "fp32": (1e-5, 1e-5),
    "fp16": (2e-3, 2e-3),
    "fp64": (1e-10, 1e-10),
    # whole models: ONNX Runtime vs PyTorch eager, fp32 (different kernels, reduction order)
    "onnx_vs_torch": (1e-3, 1e-3),
}


def tol(kind: str) -> dict:
    atol, rtol = TOLERANCES[kind]
    return {"atol": atol, "rtol": rtol}


def export_tiny_zoo_model(name: str, real_photos, path):
    """Export the registry model ``name`` at its ``tiny_config`` (seed 0) to ``path`` as fp32 ONNX,
    labelled with the real photos' category folders; checked against PyTorch on 4 of them."""
    import torch

    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model, get_model_class
    from edgefashion.runtime.preprocess import PreprocessConfig

    cats = sorted({p.parent.name for p in real_photos})
    schema = LabelSchema.simple(cats, {"texture": ["a", "b"], "shape": ["c", "d", "e"]})
    torch.manual_seed(0)
    cls = get_model_class(name)
    cfg = dict(cls.tiny_config)
    if hasattr(cls, "schema_options"):
        cfg.update(cls.schema_options(schema))
    model = create_model(name, schema.num_categories, schema.num_attributes, **cfg).eval()
    prep = PreprocessConfig(input_size=cfg["input_size"])
    export_onnx(model, schema, prep, path, check_inputs=check_inputs_from_images(real_photos[:4], prep),
                real_images=True, self_test=False)
    return path
