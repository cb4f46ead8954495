"""A model with an embedding output and an extra "known" input (m2fashion, tiny): ``tag`` writes its
embedding column, and the Triton repository feeds "known" neutral zeros from the preprocessing
model and carries the embedding through post-processing; both equal the Predictor's answers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("pyarrow")
pytest.importorskip("tritonclient")
ort = pytest.importorskip("onnxruntime")

from test_triton import load_python_model, parse  # noqa: E402

from edgefashion.deploy.triton_client import encode_images, parse_answers  # noqa: E402
from edgefashion.deploy.triton_repo import export_triton  # noqa: E402
from edgefashion.runtime.predictor import Predictor  # noqa: E402

pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def m2_onnx(photos, tmp_path_factory) -> Path:
    import torch

    from edgefashion.export.onnx import export_onnx
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model, get_model_class
    from edgefashion.runtime.preprocess import PreprocessConfig

    torch.manual_seed(0)
    cfg = dict(get_model_class("m2fashion").tiny_config)
    cfg.pop("pretrained", None)  # never a weights download in tests
    schema = LabelSchema.simple(sorted({p.parent.name for p in photos}),
                                {"texture": ["plain", "striped"], "shape": ["long", "short"]})
    model = create_model("m2fashion", schema.num_categories, schema.num_attributes, **cfg).eval()
    path = tmp_path_factory.mktemp("m2") / "m2fashion.onnx"
    export_onnx(model, schema, PreprocessConfig(input_size=cfg["input_size"]), path)
    return path


def test_tag_writes_the_embedding(m2_onnx, photos, tmp_path):
    from edgefashion.tag import read_output, tag_images

    tag_images(photos[:6], tmp_path / "t.parquet", m2_onnx, batch_size=8, progress=False)
    rows = {r["path"]: r for r in read_output(tmp_path / "t.parquet").to_pylist()}
    with Predictor(m2_onnx, batch_size=8) as p:
        refs = p([str(x) for x in photos[:6]])
    for path, ref in zip(photos[:6], refs):
        emb = rows[str(path)]["embedding"]
        assert emb is not None and len(emb) == len(ref.embedding)
        np.testing.assert_allclose(emb, ref.embedding, atol=1e-6)


def test_triton_known_input_and_embedding(m2_onnx, photos, tmp_path):
    repo = export_triton(m2_onnx, tmp_path / "repo")
    ens = parse(repo / "edgefashion/config.pbtxt")
    net_step = ens.ensemble_scheduling.step[1]
    assert "known" in net_step.input_map and "embedding" in net_step.output_map
    pre, pb = load_python_model(repo, "edgefashion_preprocess")
    post, _ = load_python_model(repo, "edgefashion_postprocess")
    (r,) = pre.execute([pb.InferenceRequest([pb.Tensor("IMAGE", encode_images(photos[:3]))])])
    t = {x.name(): x.as_numpy() for x in r.output_tensors}
    assert not t["known"].any()  # neutral: every attribute state unknown
    s = ort.InferenceSession(str(repo / "edgefashion_model/1/model.onnx"))
    raw = dict(zip([o.name for o in s.get_outputs()],
                   s.run(None, {i.name: t[i.name] for i in s.get_inputs()})))
    ins = [pb.Tensor(k, raw[k]) for k in ("category_logits", "attribute_logits", "embedding")]
    (a,) = post.execute([pb.InferenceRequest(ins + [pb.Tensor("IMAGE_SHAPE", t["IMAGE_SHAPE"])])])
    preds = parse_answers({x.name(): x.as_numpy() for x in a.output_tensors}["PREDICTION"])
    with Predictor(m2_onnx) as p:
        refs = p([str(x) for x in photos[:3]])
    for pred, ref in zip(preds, refs):
        assert pred.category.label == ref.category.label and pred.attributes == ref.attributes
        np.testing.assert_allclose(pred.embedding, ref.embedding, atol=1e-5)
