"""``edgefashion export-triton MODEL -o REPO``: a Triton Inference Server model repository.

    REPO/
      <name>_model/        the network: ONNX -> onnxruntime backend (model.onnx), TensorRT engine ->
                           tensorrt_plan (model.plan), OpenVINO IR -> openvino backend (model.xml/.bin);
                           dynamic batching + instance groups
      <name>_preprocess/   Python backend: encoded image bytes -> the model input (our OpenCV code)
      <name>_postprocess/  Python backend: raw outputs -> labels (softmax, top-k, thresholds, groups)
      <name>/              the ensemble clients call: IMAGE (bytes) -> PREDICTION (JSON), CATEGORY, SCORE

The Python models run edgefashion's own pre- and post-processing (deploy/triton_python_model.py,
copied in as model.py), so the tritonserver's Python environment needs ``pip install edgefashion``
(numpy and OpenCV only). ``config.pbtxt`` files are written as text and, when tritonclient is
installed, parsed with Triton's ModelConfig protobuf before anything is written.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from edgefashion.errors import BadInput, ExportError

PY_MODEL = Path(__file__).with_name("triton_python_model.py")
KINDS = {"auto": "KIND_AUTO", "cpu": "KIND_CPU", "gpu": "KIND_GPU"}
_TYPES = {np.dtype("float32"): "TYPE_FP32", np.dtype("float16"): "TYPE_FP16",
          np.dtype("int64"): "TYPE_INT64", np.dtype("int32"): "TYPE_INT32",
          np.dtype("uint8"): "TYPE_UINT8", np.dtype("bool"): "TYPE_BOOL"}
POST_INPUTS = ("category_logits", "attribute_logits", "embedding", "landmarks")  # used by postprocess
ENSEMBLE_IN, ENSEMBLE_OUT = "IMAGE", ("PREDICTION", "CATEGORY", "SCORE")


@dataclass(frozen=True)
class TritonOptions:
    """name: the ensemble's name (the others get _model / _preprocess / _postprocess);
    max_batch: Triton's max_batch_size; preferred_batch / max_delay_us: dynamic batching;
    instances / kind: the network's instance group (kind auto: GPU for an engine, else Triton's
    KIND_AUTO); python_instances: of each Python model (CPU); top_k: categories in answers;
    python_env: the Python models' EXECUTION_ENV_PATH (a conda-pack .tar.gz, or a folder whose
    bin/activate sets up an environment with edgefashion), None: the stub's own Python."""

    name: str = "edgefashion"
    max_batch: int = 8
    preferred_batch: tuple[int, ...] = ()
    max_delay_us: int = 2000
    instances: int = 1
    kind: str = "auto"
    python_instances: int = 2
    top_k: int = 5
    python_env: str | None = None

    def __post_init__(self) -> None:
        if not self.name.replace("_", "").replace("-", "").isalnum():
            raise BadInput(f"model name {self.name!r} may hold only letters, digits, - and _")
        if int(self.max_batch) < 1 or int(self.instances) < 1 or int(self.python_instances) < 1:
            raise BadInput(f"max_batch={self.max_batch}, instances={self.instances} and "
                           f"python_instances={self.python_instances} must be at least 1")
        if self.kind not in KINDS:
            raise BadInput(f"kind {self.kind!r} is not one of {list(KINDS)}")
        if any(not 1 <= int(b) <= int(self.max_batch) for b in self.preferred_batch):
            raise BadInput(f"preferred_batch {list(self.preferred_batch)} must lie in 1..max_batch")


@dataclass(frozen=True)
class _Net:
    """What the repository needs to know about the network file."""

    platform: str           # config.pbtxt platform / backend line
    filename: str
    files: dict             # source path -> name in the version folder
    inputs: dict            # name -> (dims without batch, dtype)
    outputs: dict
    metadata: dict


def export_triton(model: str | Path, repo: str | Path, options: TritonOptions | None = None,
                  onnx: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write the repository for ``model`` (.onnx, .engine / .plan, or OpenVINO .xml) into ``repo``.

    onnx: for an engine, the ONNX it was built from (its tensor names and shapes; default: the
    one its sidecar records)."""
    opts = options or TritonOptions()
    net = _inspect(Path(model), onnx)
    repo = Path(repo)
    names = [opts.name, f"{opts.name}_model", f"{opts.name}_preprocess", f"{opts.name}_postprocess"]
    taken = [n for n in names if (repo / n).exists()]
    if taken and not overwrite:
        raise BadInput(f"{repo} already holds {taken}; pass overwrite=True (--overwrite) to replace")
    configs = _configs(net, opts)
    for text in configs.values():
        validate_config(text)
    for n in names:
        shutil.rmtree(repo / n, ignore_errors=True)
        (repo / n / "1").mkdir(parents=True)
        (repo / n / "config.pbtxt").write_text(configs[n])
    for src, dst in net.files.items():
        shutil.copyfile(src, repo / names[1] / "1" / dst)
    sidecar = {"schema": net.metadata["schema"], "preprocess": net.metadata["preprocess"],
               "input": next(iter(net.inputs)), "extra_inputs": list(net.inputs)[1:],
               "outputs": [o for o in POST_INPUTS if o in net.outputs], "top_k": opts.top_k}
    for n in names[2:]:
        shutil.copyfile(PY_MODEL, repo / n / "1" / "model.py")
        (repo / n / "1" / "edgefashion.json").write_text(json.dumps(sidecar, indent=1))
    return repo


def _inspect(model: Path, onnx: str | Path | None) -> _Net:
    from edgefashion.runtime.backends.base import load_backend
    from edgefashion.runtime.metadata import read_sidecar

    if not model.is_file():
        raise BadInput(f"model {str(model)!r} does not exist")
    suffix = model.suffix.lower()
    if suffix in (".engine", ".plan"):
        meta = read_sidecar(model)
        src = onnx or (meta or {}).get("export", {}).get("onnx")
        if meta is None or not src or not Path(src).is_file():
            raise ExportError(f"engine {str(model)!r} needs its sidecar {model.name}.json and the "
                              "ONNX it was built from (--onnx) for its tensor names and shapes")
        io = load_backend(src, "onnxruntime")
        files = {str(model): "model.plan"}
        platform, fname = 'platform: "tensorrt_plan"', "model.plan"
    elif suffix == ".xml":
        io = load_backend(model, "openvino")
        meta, files = io.metadata, {str(model): "model.xml", str(model.with_suffix(".bin")): "model.bin"}
        platform, fname = 'backend: "openvino"', "model.xml"
    elif suffix == ".onnx":
        io = load_backend(model, "onnxruntime")
        meta, files = io.metadata, {str(model): "model.onnx"}
        platform, fname = 'platform: "onnxruntime_onnx"\nbackend: "onnxruntime"', "model.onnx"
    else:
        raise BadInput(f"model {str(model)!r}: Triton takes .onnx, .engine / .plan or OpenVINO .xml")
    if not meta or not meta.get("schema"):
        raise ExportError(f"model {str(model)!r} has no edgefashion metadata (labels, preprocessing);"
                          " re-export it with `edgefashion export`")
    dims = {k: (tuple(-1 if not isinstance(d, int) else d for d in s.shape[1:]), np.dtype(s.dtype))
            for k, s in io.input_specs.items()}
    outs = {k: (tuple(-1 if not isinstance(d, int) else d for d in s.shape[1:]), np.dtype(s.dtype))
            for k, s in io.output_specs.items()}
    io.close()
    if "category_logits" not in outs:
        raise ExportError(f"model {str(model)!r} has no category_logits output")
    return _Net(platform, fname, files, dims, outs, dict(meta))


def _tensors(kind: str, items: Mapping[str, tuple]) -> str:
    """``input [ {name, data_type, dims}, ... ]`` from name -> (TYPE_..., dims without batch)."""
    body = ",\n".join(f'  {{ name: "{n}" data_type: {t} dims: [ {", ".join(str(int(d)) for d in dims)} ] }}'
                      for n, (t, dims) in items.items())
    return f"{kind} [\n{body}\n]"


def _head(name: str, backend_line: str, max_batch: int) -> str:
    return f'name: "{name}"\n{backend_line}\nmax_batch_size: {int(max_batch)}'


def _configs(net: _Net, o: TritonOptions) -> dict[str, str]:
    typed_in = {k: (_TYPES[t], d) for k, (d, t) in net.inputs.items()}
    typed_out = {k: (_TYPES[t], d) for k, (d, t) in net.outputs.items()}
    post_in = {k: typed_out[k] for k in POST_INPUTS if k in typed_out}
    post_in["IMAGE_SHAPE"] = ("TYPE_INT32", (3,))
    kind = "KIND_GPU" if o.kind == "auto" and net.filename == "model.plan" else KINDS[o.kind]
    if net.platform.startswith('backend: "openvino"'):
        kind = "KIND_CPU"
    pref = f"\n  preferred_batch_size: [ {', '.join(map(str, o.preferred_batch))} ]" \
        if o.preferred_batch else ""
    batching = f"dynamic_batching {{{pref}\n  max_queue_delay_microseconds: {int(o.max_delay_us)}\n}}"
    py_group = f"instance_group [ {{ count: {int(o.python_instances)} kind: KIND_CPU }} ]"
    if o.python_env:
        py_group += (f'\nparameters: {{ key: "EXECUTION_ENV_PATH" value: {{ string_value: '
                     f'"{o.python_env}" }} }}')
    answers = {"PREDICTION": ("TYPE_STRING", (1,)), "CATEGORY": ("TYPE_STRING", (1,)),
               "SCORE": ("TYPE_FP32", (1,))}
    pre_out = {**typed_in, "IMAGE_SHAPE": ("TYPE_INT32", (3,))}
    image = {ENSEMBLE_IN: ("TYPE_STRING", (1,))}
    model_name, pre, post = f"{o.name}_model", f"{o.name}_preprocess", f"{o.name}_postprocess"
    return {
        model_name: "\n".join([_head(model_name, net.platform, o.max_batch),
                               f'default_model_filename: "{net.filename}"',
                               _tensors("input", typed_in), _tensors("output", typed_out), batching,
                               f"instance_group [ {{ count: {int(o.instances)} kind: {kind} }} ]"]),
        pre: "\n".join([_head(pre, 'backend: "python"', o.max_batch), _tensors("input", image),
                        _tensors("output", pre_out), batching, py_group,
                        'parameters: { key: "role" value: { string_value: "preprocess" } }']),
        post: "\n".join([_head(post, 'backend: "python"', o.max_batch), _tensors("input", post_in),
                         _tensors("output", answers), batching, py_group,
                         'parameters: { key: "role" value: { string_value: "postprocess" } }']),
        o.name: "\n".join([_head(o.name, 'platform: "ensemble"', o.max_batch),
                           _tensors("input", image), _tensors("output", answers),
                           _ensemble(o.name, list(typed_in), list(post_in))]),
    }


def _step(model: str, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> str:
    ins = "\n".join(f'      input_map {{ key: "{k}" value: "{v}" }}' for k, v in inputs.items())
    outs = "\n".join(f'      output_map {{ key: "{k}" value: "{v}" }}' for k, v in outputs.items())
    return f'    {{\n      model_name: "{model}"\n      model_version: -1\n{ins}\n{outs}\n    }}'


def _ensemble(name: str, model_inputs: list[str], post_inputs: list[str]) -> str:
    """IMAGE -> preprocess -> model -> postprocess; internal tensors are named _<tensor>."""
    pre = _step(f"{name}_preprocess", {ENSEMBLE_IN: ENSEMBLE_IN},
                {k: f"_{k}" for k in [*model_inputs, "IMAGE_SHAPE"]})
    net_outs = [k for k in post_inputs if k != "IMAGE_SHAPE"]
    net = _step(f"{name}_model", {k: f"_{k}" for k in model_inputs}, {k: f"_{k}" for k in net_outs})
    post = _step(f"{name}_postprocess", {k: f"_{k}" for k in post_inputs},
                 {k: k for k in ENSEMBLE_OUT})
    return f"ensemble_scheduling {{\n  step [\n{pre},\n{net},\n{post}\n  ]\n}}"


def validate_config(text: str):
    """Parse config.pbtxt text with Triton's ModelConfig protobuf (tritonclient); -> the message.
    ExportError when it does not parse; None when tritonclient is not installed."""
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        return None
    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as e:
        raise ExportError(f"generated config.pbtxt does not parse as a Triton ModelConfig: {e}\n"
                          f"{text}") from e
