"""The model files bench_openvino.py times: checkpoint, fp32 ONNX, int8 Q/DQ (s8 and u8 activations).

Made once per ``workdir`` (reused when present). Registry models get DeepFashion-C-sized heads
(50 categories, 1000 attributes) and random weights (seed 0) unless a checkpoint is given;
``timm_lite0`` is a plain timm ``tf_efficientnet_lite0`` classifier (50 classes, random weights: no hub
download) wrapped only so that the project's exporter names its output ``category_logits``.
"""
from __future__ import annotations

import collections
from pathlib import Path

ORT_S8 = {"session.qdqisint8allowed": "1"}  # let ORT fuse s8-activation Q/DQ into int8 kernels on x86
SIZE = 224


def schema_50_1000():
    from edgefashion.labels import LabelSchema

    return LabelSchema.simple([f"category{i}" for i in range(50)],
                              {g: [f"{g}{i}" for i in range(200)]
                               for g in ("texture", "fabric", "shape", "part", "style")})


def _timm_lite0(num_classes: int):
    import timm
    import torch

    class Lite0(torch.nn.Module):
        output_names = ("category_logits",)
        config = {"name": "timm_tf_efficientnet_lite0"}

        def __init__(self) -> None:
            super().__init__()
            self.net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes)

        def forward(self, image):
            return {"category_logits": self.net(image)}

    return Lite0()


def make_torch_model(name: str, schema, width: float):
    """-> (model in eval mode, checkpoint-able?) or (None, False) when ``name`` is not registered."""
    import torch

    from edgefashion.models import create_model, get_model_class, list_models

    torch.manual_seed(0)
    if name == "timm_lite0":
        return _timm_lite0(schema.num_categories).eval(), False
    if name not in list_models():
        return None, False
    cls = get_model_class(name)
    opts = {"input_size": SIZE}
    if name == "msfan":
        opts["width"] = width
    if hasattr(cls, "schema_options"):
        opts.update(cls.schema_options(schema))
    return create_model(name, schema.num_categories, schema.num_attributes, **opts).eval(), True


def make_models(name: str, work: Path, calib: list, args, log) -> dict | None:
    """{"pt", "fp32", "int8", "int8u8", "preprocess", "info"} for model ``name`` under ``work``."""
    from edgefashion.export.onnx import check_inputs_from_images, export_onnx
    from edgefashion.models import load_checkpoint, save_checkpoint
    from edgefashion.runtime.preprocess import PreprocessConfig

    stem = f"{name}_w{args.width}" if name == "msfan" else name
    work = Path(work) / stem
    work.mkdir(parents=True, exist_ok=True)
    prep = PreprocessConfig(input_size=SIZE)
    schema = schema_50_1000()
    if args.checkpoint:
        model, info = load_checkpoint(args.checkpoint)
        schema, prep, ckpt = info["schema"], info["preprocess"], Path(args.checkpoint)
    else:
        if name == "timm_lite0":  # a plain classifier: categories only
            from edgefashion.labels import LabelSchema

            schema = LabelSchema.simple(schema.category_names)
        model, saveable = make_torch_model(name, schema, args.width)
        if model is None:
            return None
        ckpt = work / f"{stem}.pt" if saveable else None
        if ckpt is not None and not ckpt.exists():
            save_checkpoint(ckpt, model, schema, prep)
    files = {"pt": ckpt, "preprocess": prep,
             "info": {"parameters": sum(p.numel() for p in model.parameters()),
                      "weights": "checkpoint" if args.checkpoint else "random (seed 0)"}}
    fp32 = work / f"{stem}.onnx"
    if not fp32.exists():
        log(f"exporting {stem} -> {fp32}")
        export_onnx(model, schema, prep, fp32, check_inputs=check_inputs_from_images(calib[:4], prep),
                    real_images=True, self_test_images=calib[:4])
    files["fp32"] = fp32
    for key, acts, fmt in (("int8", "int8", "qdq"), ("int8u8", "uint8", "qdq"), ("int8qop", "uint8", "qoperator")):
        if key in args.files:
            files[key] = quantized(fp32, work / f"{stem}.{key}.onnx", acts, fmt, calib, log)
    if ckpt is None:
        files["torch_module"] = model
    return files


def quantized(fp32: Path, out: Path, activations: str, fmt: str, calib: list, log) -> Path:
    from edgefashion.precision import quantize_onnx

    if not out.exists():
        log(f"quantizing {fp32.name} (int8 {fmt}, {activations} activations) -> {out}")
        quantize_onnx(str(fp32), str(out), "int8", calib=[str(p) for p in calib], calib_size=len(calib),
                      max_drop=None, eval_images=[str(p) for p in calib[:16]], eval_size=16,
                      activations=activations, quant_format=fmt, progress=False, report_path=None)
    return out


def ort_int8_graph(path: Path, threads: int, session_config: dict | None) -> dict:
    """How ORT's optimised graph runs an int8 file: op counts, int8 kernels vs Conv / Gemm in all."""
    import tempfile

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3  # not the warning that an optimised graph is machine-specific
        opts.optimized_model_filepath = str(Path(tmp) / "opt.onnx")
        for k, v in (session_config or {}).items():
            opts.add_session_config_entry(k, v)
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        ops = collections.Counter(n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node)
    int8 = sum(c for op, c in ops.items() if op in ("QLinearConv", "QGemm", "QLinearMatMul", "MatMulInteger",
                                                    "ConvInteger"))
    total = int8 + sum(c for op, c in ops.items() if op in ("Conv", "FusedConv", "Gemm", "FusedGemm",
                                                           "MatMul", "NhwcFusedConv"))
    return {"int8_kernels": int8, "conv_gemm_total": total, "ops": dict(ops.most_common())}
