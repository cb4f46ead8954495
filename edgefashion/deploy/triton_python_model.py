"""Triton Python-backend model: edgefashion's preprocessing or post-processing (copied as model.py).

export_triton copies this file into ``<name>_preprocess/1/model.py`` and
``<name>_postprocess/1/model.py``; the config parameter ``role`` says which one it is, and
``edgefashion.json`` beside it holds the label schema, the preprocessing and the top-k.

- preprocess: IMAGE (encoded bytes, one per request row) -> the network input (N, 3, S, S) float32
  and IMAGE_SHAPE (N, 3); neutral zeros for extra inputs ("known" attribute states). A corrupt
  image fails its own request with the decoder's message; the others in the batch go on.
- postprocess: raw outputs -> PREDICTION (Prediction.to_dict() as JSON, the same answer as
  ``edgefashion serve``'s /predict), CATEGORY (top-1 label), SCORE (its probability).

``triton_python_backend_utils`` exists only inside tritonserver's Python-backend stub.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from edgefashion.labels import LabelSchema
from edgefashion.runtime.images import decode_image
from edgefashion.runtime.postprocess import group_answers, postprocess, resolve_thresholds
from edgefashion.runtime.preprocess import PreprocessConfig, preprocess
from edgefashion.runtime.prediction import CategoryResult, Prediction


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        self.role = config["parameters"]["role"]["string_value"]
        here = Path(args["model_repository"]) / args["model_version"]
        side = json.loads((here / "edgefashion.json").read_text())
        self.schema = LabelSchema.from_dict(side["schema"])
        self.prep = PreprocessConfig.from_dict(side["preprocess"])
        self.input, self.extra = side["input"], list(side["extra_inputs"])
        self.outputs, self.top_k = list(side["outputs"]), int(side["top_k"])
        self.thresholds = resolve_thresholds(self.schema, None)

    def execute(self, requests: list) -> list:
        run = self._preprocess if self.role == "preprocess" else self._postprocess
        responses = []
        for request in requests:  # one response per request; an error fails only its request
            try:
                responses.append(pb_utils.InferenceResponse(output_tensors=run(request)))
            except Exception as e:  # noqa: BLE001 - becomes this request's error answer
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError(f"{type(e).__name__}: {e}")))
        return responses

    def _preprocess(self, request) -> list:
        data = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy().reshape(-1)
        xs, shapes = [], []
        for i, blob in enumerate(data):
            img = decode_image(bytes(blob), f"<request row {i}>")
            xs.append(preprocess(img, self.prep))
            shapes.append(img.shape)
        n = len(xs)
        out = [pb_utils.Tensor(self.input, np.stack(xs).astype(np.float32)),
               pb_utils.Tensor("IMAGE_SHAPE", np.asarray(shapes, np.int32).reshape(n, 3))]
        out += [pb_utils.Tensor(k, np.zeros((n, self.schema.num_attributes), np.float32))
                for k in self.extra]
        return out

    def _postprocess(self, request) -> list:
        raw = {k: pb_utils.get_input_tensor_by_name(request, k).as_numpy() for k in self.outputs}
        shapes = pb_utils.get_input_tensor_by_name(request, "IMAGE_SHAPE").as_numpy()
        post = postprocess(raw, self.schema, self.top_k, self.thresholds)
        preds = [self._prediction(j, post, raw, shapes[j]) for j in range(len(shapes))]
        answers = np.array([[json.dumps(p.to_dict(scores=True)).encode()] for p in preds], np.object_)
        labels = np.array([[p.category.label.encode()] for p in preds], np.object_)
        scores = np.array([[p.category.score] for p in preds], np.float32)
        return [pb_utils.Tensor("PREDICTION", answers), pb_utils.Tensor("CATEGORY", labels),
                pb_utils.Tensor("SCORE", scores)]

    def _prediction(self, j: int, post, raw: dict, shape) -> Prediction:
        names = self.schema.category_names
        ranked = [(names[c], float(p)) for c, p in zip(post.top_indices[j], post.top_probs[j])]
        category = CategoryResult(ranked[0][0], ranked[0][1], int(post.top_indices[j, 0]), ranked,
                                  names, post.category_probs[j])
        scores = post.attribute_scores[j]
        attr_names = self.schema.attribute_names
        attributes = {g: [attr_names[a] for a in sorted((a for a in idx if post.attribute_labels[j, a]),
                                                        key=lambda a: -scores[a])]
                      for g, idx in self.schema.group_indices().items()}
        emb = raw["embedding"][j] if "embedding" in raw else None
        groups = group_answers(self.schema, scores, category.index, self.schema.applicability_mask())
        return Prediction(source=f"<{int(shape[1])}x{int(shape[0])} image>", category=category,
                          attributes=attributes, groups=groups,
                          scores=dict(zip(attr_names, scores.tolist())), embedding=emb)

    def finalize(self) -> None:
        pass
