"""``export-triton``: every config.pbtxt parses as Triton's ModelConfig protobuf and the ensemble is
wired tensor for tensor; the Python-backend model's ``execute`` runs for real (preprocess on real
photos and a corrupt one, the network on ONNX Runtime as Triton's onnxruntime backend would, then
postprocess), and its answers are the Predictor's own, read back with the client's parser.

No tritonserver runs here (see docs/scale-out.md for what stopped it): ``triton_python_backend_utils``
exists only inside tritonserver's Python-backend stub, so StandInPbUtils below gives the model.py
the few names it uses, with the stub's semantics (Tensor, InferenceResponse, TritonError,
get_input_tensor_by_name)."""
from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tritonclient")
from google.protobuf import json_format, text_format  # noqa: E402
from tritonclient.grpc import model_config_pb2  # noqa: E402

from edgefashion.errors import BadInput, ExportError  # noqa: E402
from edgefashion.deploy.triton_client import encode_images, parse_answers  # noqa: E402
from edgefashion.deploy.triton_repo import TritonOptions, export_triton  # noqa: E402
from edgefashion.runtime.predictor import Predictor  # noqa: E402

pytestmark = pytest.mark.needs_data
NAME = "shop"


def parse(path: Path):
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


@pytest.fixture(scope="module")
def repo(serve_onnx, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("triton") / "repo"
    opts = TritonOptions(name=NAME, max_batch=8, preferred_batch=(4, 8), instances=2, kind="cpu")
    return export_triton(serve_onnx, out, opts)


def test_every_config_parses_and_the_ensemble_is_wired(repo):
    cfg = {p.parent.name: parse(p) for p in repo.glob("*/config.pbtxt")}
    assert set(cfg) == {NAME, f"{NAME}_model", f"{NAME}_preprocess", f"{NAME}_postprocess"}
    net = cfg[f"{NAME}_model"]
    assert net.platform == "onnxruntime_onnx" and (repo / f"{NAME}_model/1/model.onnx").is_file()
    assert list(net.dynamic_batching.preferred_batch_size) == [4, 8] and net.max_batch_size == 8
    assert net.instance_group[0].count == 2
    assert net.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert all(cfg[n].backend == "python" for n in (f"{NAME}_preprocess", f"{NAME}_postprocess"))
    ens = cfg[NAME]
    assert ens.platform == "ensemble"
    available = {i.name: i for i in ens.input}          # tensors produced so far, by ensemble name
    for step in ens.ensemble_scheduling.step:
        m = cfg[step.model_name]
        ins, outs = {i.name: i for i in m.input}, {o.name: o for o in m.output}
        for key, value in step.input_map.items():
            assert value in available, f"{step.model_name} reads {value} before it exists"
            assert list(ins[key].dims) == list(available[value].dims)
            assert ins[key].data_type == available[value].data_type
        assert set(ins) == set(step.input_map)
        for key, value in step.output_map.items():
            available[value] = outs[key]
    assert {o.name for o in ens.output} <= set(available)


class StandInPbUtils(types.ModuleType):
    """The part of triton_python_backend_utils model.py uses, as tritonserver's stub defines it."""

    class Tensor:
        def __init__(self, name: str, array: np.ndarray) -> None:
            self._name, self._array = name, array

        def name(self) -> str:
            return self._name

        def as_numpy(self) -> np.ndarray:
            return self._array

    class TritonError(Exception):
        def message(self) -> str:
            return str(self)

    class InferenceResponse:
        def __init__(self, output_tensors, error=None) -> None:
            self.output_tensors, self.error = output_tensors, error

    class InferenceRequest:
        def __init__(self, inputs: list) -> None:
            self.inputs = inputs

    @staticmethod
    def get_input_tensor_by_name(request, name: str):
        return next((t for t in request.inputs if t.name() == name), None)


def load_python_model(repo: Path, model: str):
    """model.py from the repository, initialised with the args tritonserver passes."""
    pb = StandInPbUtils("triton_python_backend_utils")
    sys.modules["triton_python_backend_utils"] = pb
    spec = importlib.util.spec_from_file_location(f"triton_{model}", repo / model / "1" / "model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cfg = json_format.MessageToDict(parse(repo / model / "config.pbtxt"),
                                    preserving_proto_field_name=True)
    instance = mod.TritonPythonModel()
    instance.initialize({"model_config": json.dumps(cfg), "model_repository": str(repo / model),
                         "model_version": "1", "model_name": model})
    return instance, pb


def test_python_models_give_the_predictors_answers(repo, serve_onnx, photos):
    ort = pytest.importorskip("onnxruntime")
    pre, pb = load_python_model(repo, f"{NAME}_preprocess")
    post, _ = load_python_model(repo, f"{NAME}_postprocess")
    batch, bad = photos[:5], [b"\xff\xd8\xff\xe0 not a jpeg"]
    requests = [pb.InferenceRequest([pb.Tensor("IMAGE", encode_images(batch))]),
                pb.InferenceRequest([pb.Tensor("IMAGE", encode_images(bad))])]
    ok, failed = pre.execute(requests)
    assert failed.error is not None and "ImageDecodeError" in failed.error.message()
    assert ok.error is None
    tensors = {t.name(): t.as_numpy() for t in ok.output_tensors}
    assert tensors["image"].shape == (5, 3, 64, 64) and tensors["IMAGE_SHAPE"].shape == (5, 3)
    session = ort.InferenceSession(str(repo / f"{NAME}_model/1/model.onnx"))  # Triton's backend
    raw = dict(zip([o.name for o in session.get_outputs()],
                   session.run(None, {"image": tensors["image"]})))
    inputs = [pb.Tensor(k, raw[k]) for k in ("category_logits", "attribute_logits")]
    (answer,) = post.execute([pb.InferenceRequest(
        inputs + [pb.Tensor("IMAGE_SHAPE", tensors["IMAGE_SHAPE"])])])
    assert answer.error is None
    out = {t.name(): t.as_numpy() for t in answer.output_tensors}
    preds = parse_answers(out["PREDICTION"])
    with Predictor(serve_onnx, threads=1) as p:
        refs = p([str(x) for x in batch], top_k=5)
    for pred, label, score, ref in zip(preds, out["CATEGORY"][:, 0], out["SCORE"][:, 0], refs):
        assert pred.category.label == ref.category.label == label.decode()
        assert pred.category.score == pytest.approx(ref.category.score, abs=1e-5)
        assert score == pytest.approx(ref.category.score, abs=1e-5)
        assert pred.category.top(5) == [(n, pytest.approx(s, abs=1e-5)) for n, s in ref.category.top(5)]
        assert pred.attributes == ref.attributes
        assert pred.scores == pytest.approx(ref.scores, abs=1e-5)


def test_engine_and_openvino_repositories(serve_onnx, tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan bytes: only the repository layout and config are checked here")
    with pytest.raises(ExportError, match="sidecar"):
        export_triton(engine, tmp_path / "r1")
    from edgefashion.runtime.metadata import read_onnx_metadata

    (tmp_path / "m.engine.json").write_text(json.dumps(read_onnx_metadata(str(serve_onnx))))
    repo = export_triton(engine, tmp_path / "r1", onnx=serve_onnx)
    net = parse(repo / "edgefashion_model/config.pbtxt")
    assert net.platform == "tensorrt_plan" and (repo / "edgefashion_model/1/model.plan").is_file()
    assert net.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    with pytest.raises(BadInput, match="already holds"):
        export_triton(engine, tmp_path / "r1", onnx=serve_onnx)
    pytest.importorskip("openvino")
    from edgefashion.runtime.backends.openvino import save_ir

    xml = save_ir(serve_onnx, tmp_path / "m.xml")
    repo = export_triton(xml, tmp_path / "r2")
    net = parse(repo / "edgefashion_model/config.pbtxt")
    assert net.backend == "openvino" and (repo / "edgefashion_model/1/model.bin").is_file()


def test_cli_export_triton(serve_onnx, tmp_path, capsys):
    from edgefashion.cli.main import main

    repo = tmp_path / "repo"
    argv = ["export-triton", str(serve_onnx), "-o", str(repo), "--name", "kiosk", "--max-batch", "4",
            "--preferred-batch", "2", "4", "--kind", "cpu"]
    assert main(argv) == 0
    assert "tritonserver --model-repository" in capsys.readouterr().out
    assert parse(repo / "kiosk_model/config.pbtxt").max_batch_size == 4
    assert main(argv) == 2  # the repository holds it already: refused without --overwrite
    assert "already holds" in capsys.readouterr().err
    assert main(argv + ["--overwrite", "--python-env", "/opt/edgefashion-env.tar.gz"]) == 0
    pre = parse(repo / "kiosk_preprocess/config.pbtxt")
    assert pre.parameters["EXECUTION_ENV_PATH"].string_value == "/opt/edgefashion-env.tar.gz"
    assert pre.parameters["role"].string_value == "preprocess"
