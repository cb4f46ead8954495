"""The export's numerical check catches a model whose ONNX really computes something else.

``DataDependent`` wraps a real tiny MSFAN with a Python ``if`` on the input's values -- the classic
tracing pitfall: ``torch.onnx.export`` records the branch its all-zero example input takes, so on
real photos the ONNX file and the eager model disagree. At the normal tolerance (1e-3) the export
must fail with ExportError and leave no file (nor temporary file) behind; the same model without
the branch exports and the report carries ONNX Runtime's real, non-zero differences.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefashion.errors import ExportError
from edgefashion.export.onnx import check_inputs_from_images, export_onnx
from edgefashion.labels import LabelSchema
from edgefashion.models import create_model, get_model_class
from edgefashion.models.contract import GarmentModule
from edgefashion.runtime.preprocess import PreprocessConfig


class DataDependent(GarmentModule):
    """``inner`` with category logits times ``scale``, then times ``factor`` plus ``offset`` when the
    image is not all zero. Eager PyTorch takes that branch on every real photo; the traced ONNX
    graph never has it."""

    def __init__(self, inner: torch.nn.Module, factor: float = 1.0, offset: float = 0.0,
                 scale: float = 1.0) -> None:
        super().__init__()
        self.inner, self.factor, self.offset, self.scale = inner, factor, offset, scale
        self.config, self.output_names = inner.config, inner.output_names
        self.model_name = inner.model_name
        self.num_categories, self.num_attributes = inner.num_categories, inner.num_attributes

    def forward(self, image: torch.Tensor) -> dict:
        out = dict(self.inner(image=image))
        out["category_logits"] = out["category_logits"] * self.scale
        if bool(image.abs().sum() > 0):  # evaluated once while tracing (zeros): branch dropped
            out["category_logits"] = out["category_logits"] * self.factor + self.offset
        return out


@pytest.fixture(scope="module")
def setup(real_photos):
    torch.manual_seed(0)
    cfg = get_model_class("msfan").tiny_config
    schema = LabelSchema.simple([f"c{i}" for i in range(10)], {"texture": ["a", "b", "c"]})
    model = create_model("msfan", 10, 3, **cfg).eval()
    prep = PreprocessConfig(input_size=cfg["input_size"])
    return model, schema, prep, check_inputs_from_images(real_photos[:6], prep)


@pytest.mark.parametrize("factor, offset, why", [
    (1.0, 0.01, "top-1 agreement 1.000"),  # every logit 0.01 off: same answers, beyond 1e-3
    (1.0, 0.0015, "top-1 agreement 1.000"),  # logits < 1: the budget is 1e-3 x 1, not more
    (-1.0, 0.0, "top-1 agreement 0.000"),  # the answer itself changes
])
def test_a_model_its_onnx_disagrees_with_fails_and_writes_nothing(setup, tmp_path, factor, offset,
                                                                  why):
    model, schema, prep, x = setup
    with torch.no_grad():  # the premise: eager and traced really differ on these inputs
        eager = model(image=torch.from_numpy(x))["category_logits"].numpy()
    assert float(np.abs(eager * factor + offset - eager).max()) > 1e-3 * max(1.0, float(np.abs(eager).max()))
    out = tmp_path / "out"
    path = out / "m.onnx"
    with pytest.raises(ExportError, match="was not written") as e:
        export_onnx(DataDependent(model, factor, offset), schema, prep, path, check_inputs=x,
                    real_images=True)  # the default tolerance 1e-3
    assert why in str(e.value) and "tolerance 0.001" in str(e.value)
    assert not path.exists() and list(out.iterdir()) == []  # no file, no temporary folder


def test_the_same_model_without_the_branch_passes_with_real_differences(setup, tmp_path):
    model, schema, prep, x = setup
    report = export_onnx(DataDependent(model, 1.0), schema, prep, tmp_path / "m.onnx", check_inputs=x,
                         real_images=True, self_test=False)
    assert report.passed and report.checked and report.num_images == 6 and report.top1_agreement == 1.0
    assert (report.path, report.opset, report.real_images, report.tolerance) == (
        str(tmp_path / "m.onnx"), 17, True, 1e-3)
    assert set(report.max_abs) == set(model.output_names)
    assert all(v <= 1e-3 * 10 for v in report.max_abs.values())
    # ONNX Runtime really ran: its kernels round differently from PyTorch's somewhere
    assert max(report.max_abs.values()) > 0.0


def test_tolerance_is_relative_to_the_logit_scale(setup, tmp_path):
    """Logits of about 35 changed by 0.05 % (0.018) pass at 1e-3 and fail at 1e-4: the budget is
    tolerance x max |logit| (0.035, then 0.0035), not the bare tolerance."""
    model, schema, prep, x = setup
    wrapped = DataDependent(model, 1.0005, scale=1000.0)
    report = export_onnx(wrapped, schema, prep, tmp_path / "a.onnx", check_inputs=x, self_test=False)
    assert report.passed
    with pytest.raises(ExportError, match="tolerance 0.0001"):
        export_onnx(wrapped, schema, prep, tmp_path / "b.onnx", check_inputs=x, tolerance=1e-4,
                    self_test=False)
    assert not (tmp_path / "b.onnx").exists()
