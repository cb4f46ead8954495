"""A tiny edgefashion-shaped ONNX classifier written with ``onnx.helper``: known weights, so every
output can be computed by hand in NumPy (``forward``), and real ONNX Runtime runs it in milliseconds.

Used by the mutation-killing tests of the Predictor and the self-test (tests/runtime/*_mutants.py),
which the mutation run executes once per mutant: an exported MSFAN costs seconds per run, this graph
costs milliseconds. The graph: the (N, 3, 32, 32) input is average-pooled to (N, 3, 4, 4) cells,
flattened to 48 features, and linear heads give every output kind a model can have.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgefashion.labels import LabelSchema
from edgefashion.runtime.metadata import METADATA_KEY, make_metadata
from edgefashion.runtime.preprocess import PreprocessConfig

SIZE = 32
CELL = 8                      # pooling window: 4 x 4 cells
FEATURES = 3 * (SIZE // CELL) ** 2
N_LANDMARKS = 4
EMBED = 6
KNOWN_WEIGHT = 3.0            # attribute_logits += 3 * known (+1 present, -1 absent)


def weights(schema: LabelSchema, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded weights, scaled so that real photos give varied top-1s and attribute scores."""
    rng = np.random.default_rng(seed)
    c, a = schema.num_categories, schema.num_attributes
    f32 = np.float32
    return {
        "Wc": rng.normal(0, 0.8, (FEATURES, c)).astype(f32), "bc": rng.normal(0, 0.5, c).astype(f32),
        "Wa": rng.normal(0, 0.4, (FEATURES, a)).astype(f32), "ba": rng.normal(0, 0.5, a).astype(f32),
        "We": rng.normal(0, 0.5, (FEATURES, EMBED)).astype(f32),
        "Wg": rng.normal(0, 1.0, (1, 3, 1, 1)).astype(f32),
        "Wl": rng.normal(0, 0.3, (FEATURES, N_LANDMARKS * 3)).astype(f32),
    }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def forward(x: np.ndarray, w: dict, known: np.ndarray | None = None, attributes: bool = True,
            extras: bool = True, lm_cols: int = 3) -> dict:
    """The graph in NumPy (float64): x (N, 3, 32, 32) preprocessed -> every output."""
    x = np.asarray(x, np.float64)
    n = len(x)
    pooled = x.reshape(n, 3, SIZE // CELL, CELL, SIZE // CELL, CELL).mean(axis=(3, 5))
    f = pooled.reshape(n, FEATURES)
    out = {"category_logits": f @ w["Wc"] + w["bc"]}
    if attributes:
        out["attribute_logits"] = f @ w["Wa"] + w["ba"]
        if known is not None:
            out["attribute_logits"] = out["attribute_logits"] + KNOWN_WEIGHT * known
    if not extras:
        return out
    out["embedding"] = f @ w["We"]
    out["gate1"] = _sigmoid(np.einsum("nchw,c->nhw", pooled, w["Wg"][0, :, 0, 0]))[:, None]  # (N, 1, h, w)
    out["attention"] = _sigmoid(pooled.mean(axis=1))                                      # (N, h, w)
    out["gate_multi"] = _sigmoid(pooled)                                # (N, 3, h, w): not one map
    out["landmarks"] = _sigmoid(f @ w["Wl"]).reshape(n, N_LANDMARKS, 3)[..., :lm_cols]
    return out


def build(path: str | Path, schema: LabelSchema, *, seed: int = 0, batch: int | None = None,
          known: bool = False, extra_input: str | None = None, attributes: bool = True,
          dynamic_attributes: bool = False, spatial: int | None = SIZE, metadata: bool = True,
          model_config: dict | None = None, prep: PreprocessConfig | None = None, extras: bool = True,
          lm_cols: int = 3, category_output: str = "category_logits") -> Path:
    """Write the tiny model to ``path``; returns it. The options make the variants the Predictor
    must handle: a static batch, a "known" input, an input it cannot feed, no attribute head, a
    dynamic attribute width, a dynamic spatial size, no edgefashion metadata, no embedding / maps /
    landmarks (``extras=False``), (x, y) landmarks without a confidence, a misnamed category head."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = weights(schema, seed)
    n_dim = batch if batch is not None else "N"
    s_dim = spatial if spatial is not None else "S"
    a = schema.num_attributes
    w["Wl"] = w["Wl"].reshape(FEATURES, N_LANDMARKS, 3)[..., :lm_cols].reshape(FEATURES, -1)
    inits = [numpy_helper.from_array(v, k) for k, v in w.items() if attributes or k not in ("Wa", "ba")]
    inits.append(numpy_helper.from_array(np.array([-1, N_LANDMARKS, lm_cols], np.int64), "lm_shape"))
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[CELL, CELL],
                         strides=[CELL, CELL]),
        helper.make_node("Flatten", ["pooled"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "Wc", "bc"], [category_output]),
    ]
    if extras:
        nodes += [
            helper.make_node("MatMul", ["f", "We"], ["embedding"]),
            helper.make_node("Conv", ["pooled", "Wg"], ["gate1_pre"]),
            helper.make_node("Sigmoid", ["gate1_pre"], ["gate1"]),
            helper.make_node("ReduceMean", ["pooled"], ["attention_pre"], axes=[1], keepdims=0),
            helper.make_node("Sigmoid", ["attention_pre"], ["attention"]),
            helper.make_node("Sigmoid", ["pooled"], ["gate_multi"]),
            helper.make_node("MatMul", ["f", "Wl"], ["lm_pre"]),
            helper.make_node("Sigmoid", ["lm_pre"], ["lm_flat"]),
            helper.make_node("Reshape", ["lm_flat", "lm_shape"], ["landmarks"]),
        ]
    else:
        inits = [i for i in inits if i.name in ("Wc", "bc", "Wa", "ba")]
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [n_dim, 3, s_dim, s_dim])]
    c = schema.num_categories
    outputs = [helper.make_tensor_value_info(category_output, TensorProto.FLOAT, [n_dim, c])]
    if attributes:
        width = "A" if dynamic_attributes else a
        outputs.append(helper.make_tensor_value_info("attribute_logits", TensorProto.FLOAT, [n_dim, width]))
        if known:
            inits.append(numpy_helper.from_array(np.array(KNOWN_WEIGHT, np.float32), "known_w"))
            # the attribute width is left dynamic: the Predictor then sizes its zeros from the schema
            inputs.append(helper.make_tensor_value_info("known", TensorProto.FLOAT, [n_dim, "A"]))
            nodes += [helper.make_node("Gemm", ["f", "Wa", "ba"], ["attr_base"]),
                      helper.make_node("Mul", ["known", "known_w"], ["known_term"]),
                      helper.make_node("Add", ["attr_base", "known_term"], ["attribute_logits"])]
        else:
            nodes.append(helper.make_node("Gemm", ["f", "Wa", "ba"], ["attribute_logits"]))
    if extra_input:
        # an input the Predictor does not know how to feed: added to the logits so it is used
        inputs.append(helper.make_tensor_value_info(extra_input, TensorProto.FLOAT, [n_dim, c]))
        nodes[2] = helper.make_node("Gemm", ["f", "Wc", "bc"], ["cat_base"])
        nodes.append(helper.make_node("Add", ["cat_base", extra_input], ["category_logits"]))
    hw = SIZE // CELL if spatial is not None else None
    if extras:
        outputs += [
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [n_dim, EMBED]),
            helper.make_tensor_value_info("gate1", TensorProto.FLOAT, [n_dim, 1, hw, hw]),
            helper.make_tensor_value_info("attention", TensorProto.FLOAT, [n_dim, hw, hw]),
            helper.make_tensor_value_info("gate_multi", TensorProto.FLOAT, [n_dim, 3, hw, hw]),
            helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, [n_dim, N_LANDMARKS, lm_cols]),
        ]
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if metadata:
        names = [o.name for o in outputs]
        meta = make_metadata("tiny", model_config or {}, schema, prep or PreprocessConfig(input_size=SIZE),
                             names, {"source": "tests/runtime/tiny_onnx.py"})
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path
