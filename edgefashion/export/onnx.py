"""PyTorch -> ONNX: dynamic batch, opset 17, onnxslim, metadata, and a numerical check vs PyTorch.

The check runs ONNX Runtime and PyTorch on the same preprocessed images (real photos when given)
and fails the export, leaving no file behind, when the outputs disagree beyond the tolerance.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from edgefashion.errors import ExportError
from edgefashion.runtime.empty_heads import replace_empty_gemms
from edgefashion.export.metadata import build_metadata, set_onnx_metadata
from edgefashion.labels import LabelSchema
from edgefashion.runtime.preprocess import PreprocessConfig

DEFAULT_OPSET = 17  # TensorRT 8.5 (JetPack 5) parses up to opset 17


@dataclass
class ExportReport:
    path: str
    opset: int
    num_images: int
    real_images: bool
    max_abs: dict[str, float] = field(default_factory=dict)
    top1_agreement: float = 1.0
    tolerance: float = 1e-3
    passed: bool = True
    checked: bool = True  # False for --custom-ops graphs, which only TensorRT (with the plugin) runs
    tta: str = "none"     # "flip": the graph averages the logits of the image and its mirror

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class _TupleOutputs(torch.nn.Module):
    """ONNX wants positional outputs; the models return dicts."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor):
        out = self.model(**dict(zip(input_names(self.model), inputs)))
        return tuple(out[k] for k in self.model.output_names)


def input_names(model) -> list[str]:
    """The model's graph inputs: "image" first, then optional extras (e.g. m2fashion's "known")."""
    return list(model.input_names)


def example_inputs(model, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """``image`` plus the model's neutral values for its extra inputs, at the same batch size."""
    feeds = {"image": image}
    extra = [n for n in input_names(model) if n != "image"]
    if extra:
        made = model.example_inputs(image.shape[0])
        feeds.update({n: made[n] for n in extra})
    return feeds


def export_onnx(model: torch.nn.Module, schema: LabelSchema, preprocess: PreprocessConfig,
                out_path: str | Path, *, check_inputs: np.ndarray | None = None,
                real_images: bool = False, opset: int = DEFAULT_OPSET, simplify: bool = True,
                tolerance: float = 1e-3, custom_ops: bool = False, self_test: bool = True,
                self_test_images: Sequence | None = None, tta: str = "none") -> ExportReport:
    """Export ``model`` (eval mode) to ``out_path``; ``check_inputs``: (N, 3, S, S) float32.

    self_test: embed a few reference inputs with this model's answers (real photos from
    ``self_test_images`` when given, else seeded noise) for ``Predictor(..., self_test=True)``.
    tta: "flip" bakes test-time flip averaging into the graph (models/tta.py).
    """
    from edgefashion.models.contract import check_model
    from edgefashion.models.tta import TTA_MODES, FlipTTA

    if tta not in TTA_MODES:
        raise ExportError(f"tta {tta!r} must be one of {', '.join(TTA_MODES)}")
    check_model(model)
    out_path = Path(out_path)
    model = model.eval().cpu()
    if tta == "flip":
        model = FlipTTA(model).eval()
    size = preprocess.input_size
    if check_inputs is None:
        rng = np.random.default_rng(0)
        check_inputs = rng.standard_normal((4, 3, size, size)).astype(np.float32)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        raw = Path(tmp) / "raw.onnx"
        _torch_export(model, raw, size, opset, custom_ops)
        onnx_model = _finish(raw, simplify and not custom_ops)
        if custom_ops:  # ONNX Runtime cannot run the plugin nodes; the engine build checks them
            report = ExportReport(str(out_path), opset, 0, real_images, tolerance=tolerance,
                                  checked=False)
        else:
            report = _check(model, onnx_model, check_inputs, tolerance, opset, real_images, out_path)
        report.tta = tta
        meta = build_metadata(model, schema, preprocess, export=report.to_dict())
        set_onnx_metadata(onnx_model, meta)
        if not report.passed:
            raise ExportError(
                f"ONNX output differs from PyTorch: max abs error {max(report.max_abs.values()):.3g} "
                f"> tolerance {tolerance} (top-1 agreement {report.top1_agreement:.3f}); "
                f"{out_path} was not written"
            )
        import onnx

        final = Path(tmp) / "final.onnx"
        onnx.save(onnx_model, str(final))
        if self_test and not custom_ops:
            from edgefashion.runtime.selftest import add_reference_set

            add_reference_set(final, images=self_test_images)
        os.replace(final, out_path)
    return report


def _torch_export(model, path: Path, size: int, opset: int, custom_ops: bool) -> None:
    example = tuple(example_inputs(model, torch.zeros(1, 3, size, size)).values())
    names, ins = list(model.output_names), input_names(model)
    ctx = _custom_op_context() if custom_ops else contextlib.nullcontext()
    with warnings.catch_warnings(), ctx, torch.no_grad():
        # The TorchScript exporter gives opset 17 (TensorRT 8.5); torch marks it deprecated.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                _TupleOutputs(model).eval(), example, str(path), input_names=ins,
                output_names=names, opset_version=opset, dynamo=False,
                dynamic_axes={n: {0: "batch"} for n in ins + names},
            )
        except Exception as e:  # noqa: BLE001 - re-raise with the exporter's message, typed
            raise ExportError(f"torch.onnx.export failed for {model.config['name']}: {e}") from e


def _custom_op_context():
    try:
        from edgefashion.ops.fused import custom_op_export
    except ImportError as e:
        raise ExportError(
            "--custom-ops needs the fused-kernel extension (edgefashion.ops.fused); "
            "build it with pip install -e . on a machine with a C++ compiler"
        ) from e
    return custom_op_export()


def _finish(path: Path, simplify: bool):
    import onnx

    model = onnx.load(str(path))
    if simplify:
        try:
            import onnxslim
        except ImportError as e:
            raise ExportError(
                "ONNX simplification needs onnxslim: pip install onnxslim (or pass simplify=False / "
                "--no-simplify)"
            ) from e

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = onnxslim.slim(model)
    replace_empty_gemms(model)  # a head with no outputs (0 attributes): OpenVINO cannot read its Gemm
    onnx.checker.check_model(model)
    return model


def _check(model, onnx_model, inputs: np.ndarray, tolerance: float, opset: int,
           real_images: bool, out_path: Path) -> ExportReport:
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    feeds = example_inputs(model, torch.from_numpy(inputs))
    got = dict(zip(names, sess.run(None, {k: v.numpy() for k, v in feeds.items()})))
    with torch.no_grad():
        ref = {k: v.numpy() for k, v in model.eval()(**feeds).items()}
    max_abs = {k: float(np.max(np.abs(got[k] - ref[k]))) if ref[k].size else 0.0 for k in names}
    agree = float(np.mean(got["category_logits"].argmax(1) == ref["category_logits"].argmax(1)))
    # relative to the logits' scale: large-logit models get a proportional budget
    scale = max(1.0, float(np.max(np.abs(ref["category_logits"]))))
    passed = all(v <= tolerance * scale for v in max_abs.values()) and agree == 1.0
    return ExportReport(str(out_path), opset, len(inputs), real_images, max_abs, agree, tolerance, passed)


def check_inputs_from_images(paths: Sequence[Path], preprocess: PreprocessConfig) -> np.ndarray:
    """Real photos -> the exact tensors the Predictor would feed."""
    from edgefashion.runtime.images import load_image
    from edgefashion.runtime.preprocess import preprocess_batch

    return preprocess_batch([load_image(p) for p in paths], preprocess)
