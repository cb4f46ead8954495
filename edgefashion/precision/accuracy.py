"""How far a model's outputs moved from a reference's: the accuracy report of every precision step.

    report = accuracy_report(ref_outputs, outputs, labels=labels)   # dicts of (N, ...) arrays
    print(format_report(report))

Per output: max-abs and mean-abs error, cosine similarity per image (mean and min). Category: top-1
agreement, top-5 overlap, top-1 / top-3 / top-5 accuracy of both and the delta in points (labels from
the caller, or, when there are none, the reference's top-1 as a pseudo-label: the candidate's top-3
"accuracy" is then how often it keeps the reference's answer in its top 3). Attributes: top-3 / top-5
overlap, and top-k recall delta when attribute labels (N, A) in {1, -1, 0} are given.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Callable

import numpy as np

CATEGORY = "category_logits"
ATTRIBUTES = "attribute_logits"
TOPK = (1, 3, 5)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, ...) x (N, ...) -> (N,) cosine similarity of each row, flattened (1.0 for two zero rows)."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dot = np.einsum("ij,ij->i", a, b)
    both_zero = (na == 0) & (nb == 0)
    cos = dot / np.maximum(na * nb, 1e-30)
    return np.where(both_zero, 1.0, np.clip(cos, -1.0, 1.0))


def topk_indices(logits: np.ndarray, k: int) -> np.ndarray:
    """(N, C) -> (N, min(k, C)) indices of the k largest, best first."""
    k = min(int(k), logits.shape[1])
    part = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(logits, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the top k (rows labelled -1 are skipped)."""
    keep = labels >= 0
    if not keep.any() or logits.shape[1] == 0:
        return float("nan")
    top = topk_indices(logits[keep], k)
    return float(np.mean((top == labels[keep, None]).any(1)))


def topk_recall(scores: np.ndarray, positives: np.ndarray, k: int) -> float:
    """DeepFashion's attribute top-k recall: positives found in each image's top k / all positives."""
    pos = positives > 0
    if pos.sum() == 0 or scores.shape[1] == 0:
        return float("nan")
    top = topk_indices(scores, k)
    hits = np.take_along_axis(pos, top, 1).sum()
    return float(hits / pos.sum())


def _overlap(a: np.ndarray, b: np.ndarray, k: int) -> float:
    if a.shape[1] == 0:
        return float("nan")
    ta, tb = topk_indices(a, k), topk_indices(b, k)
    inter = [len(set(x) & set(y)) for x, y in zip(ta.tolist(), tb.tolist())]
    return float(np.mean(inter) / ta.shape[1])


def output_errors(ref: Mapping[str, np.ndarray], out: Mapping[str, np.ndarray]) -> dict:
    """Per output present in both with the same shape: max_abs, mean_abs, cosine_mean, cosine_min."""
    stats = {}
    for name, r in ref.items():
        o = out.get(name)
        if o is None or o.shape != r.shape:
            stats[name] = {"skipped": "missing" if o is None else f"shape {o.shape} != {r.shape}"}
            continue
        if r.size == 0:
            stats[name] = {"skipped": "empty output"}
            continue
        d = np.abs(o.astype(np.float64) - r.astype(np.float64))
        cos = cosine_rows(r, o)
        stats[name] = {"max_abs": float(d.max()), "mean_abs": float(d.mean()),
                       "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}
    return stats


def accuracy_report(ref_outputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray],
                    labels: np.ndarray | None = None, schema=None,
                    attribute_labels: np.ndarray | None = None) -> dict:
    """Compare ``outputs`` with ``ref_outputs`` (dicts of (N, ...) arrays). See the module doc.

    labels: (N,) category indices (-1 = unknown) or None; schema: a LabelSchema, only used to
    check the output widths; attribute_labels: (N, A) in {1, -1, 0} or None.
    """
    ref, out = ref_outputs[CATEGORY], outputs[CATEGORY]
    n = len(ref)
    if schema is not None:
        schema.check_outputs(ref.shape[1], ref_outputs.get(ATTRIBUTES, np.zeros((n, 0))).shape[1])
    pseudo = labels is None or not (np.asarray(labels) >= 0).any()
    lab = ref.argmax(1) if pseudo else np.asarray(labels, np.int64)
    acc_ref = {f"top{k}": topk_accuracy(ref, lab, k) for k in TOPK}
    acc_out = {f"top{k}": topk_accuracy(out, lab, k) for k in TOPK}
    report = {
        "num_images": int(n),
        "outputs": output_errors(ref_outputs, outputs),
        "category": {
            "top1_agreement": float(np.mean(ref.argmax(1) == out.argmax(1))) if n else float("nan"),
            "top5_overlap": _overlap(ref, out, 5),
            "labels": "pseudo (reference top-1)" if pseudo else f"known ({int((lab >= 0).sum())} images)",
            "reference": acc_ref, "candidate": acc_out,
            "delta_points": {k: 100.0 * (acc_out[k] - acc_ref[k]) for k in acc_ref},
        },
    }
    ra, oa = ref_outputs.get(ATTRIBUTES), outputs.get(ATTRIBUTES)
    if ra is not None and oa is not None and ra.shape == oa.shape and ra.shape[1] > 0:
        attrs = {"top3_overlap": _overlap(ra, oa, 3), "top5_overlap": _overlap(ra, oa, 5)}
        if attribute_labels is not None and (np.asarray(attribute_labels) > 0).any():
            pos = np.asarray(attribute_labels)
            rec_ref = {f"top{k}": topk_recall(ra, pos, k) for k in (3, 5)}
            rec_out = {f"top{k}": topk_recall(oa, pos, k) for k in (3, 5)}
            attrs.update(recall_reference=rec_ref, recall_candidate=rec_out,
                         recall_delta_points={k: 100.0 * (rec_out[k] - rec_ref[k]) for k in rec_ref})
        report["attributes"] = attrs
    return report


def collect_outputs(runners: Sequence[Callable[[np.ndarray], Mapping[str, np.ndarray]]],
                    batches: Iterable[np.ndarray], progress=None) -> list[dict[str, np.ndarray]]:
    """Run every runner (preprocessed batch -> outputs dict) on the same batches; concatenate."""
    parts: list[dict[str, list]] = [{} for _ in runners]
    for x in batches:
        for acc, run in zip(parts, runners):
            for k, v in run(x).items():
                acc.setdefault(k, []).append(np.asarray(v, np.float32))
        if progress is not None:
            progress.update(len(x))
    return [{k: np.concatenate(v) for k, v in acc.items()} for acc in parts]


def _pct(v) -> str:
    return "   n/a" if v is None or math.isnan(v) else f"{100 * v:6.2f}%"


def format_report(report: Mapping, title: str | None = None) -> str:
    """A readable table of one ``accuracy_report`` (plus the gate verdict when present)."""
    lines = [title] if title else []
    lines.append(f"{'output':<20} {'max-abs':>10} {'mean-abs':>10} {'cos mean':>9} {'cos min':>9}")
    for name, s in report["outputs"].items():
        if "skipped" in s:
            lines.append(f"{name:<20} (skipped: {s['skipped']})")
        else:
            lines.append(f"{name:<20} {s['max_abs']:>10.4g} {s['mean_abs']:>10.4g} "
                         f"{s['cosine_mean']:>9.5f} {s['cosine_min']:>9.5f}")
    c = report["category"]
    lines.append(f"{'category':<20} {'reference':>10} {'candidate':>10} {'delta':>9}   labels: {c['labels']}")
    for k in c["reference"]:
        d = c["delta_points"][k]
        lines.append(f"  {k + ' accuracy':<18} {_pct(c['reference'][k]):>10} {_pct(c['candidate'][k]):>10} "
                     f"{d:>+7.2f}pt")
    lines.append(f"  top-1 agreement {_pct(c['top1_agreement'])}, top-5 overlap {_pct(c['top5_overlap'])}")
    a = report.get("attributes")
    if a:
        line = f"attributes: top-3 overlap {_pct(a['top3_overlap'])}, top-5 overlap {_pct(a['top5_overlap'])}"
        if "recall_delta_points" in a:
            line += ", recall delta " + ", ".join(f"{k} {v:+.2f}pt" for k, v in a["recall_delta_points"].items())
        lines.append(line)
    g = report.get("gate")
    if g:
        lines.extend(_gate_lines(g))
    return "\n".join(lines)


def _gate_lines(g: Mapping) -> list[str]:
    """The gate section: one line per rule, then the verdict naming the broken rules."""
    lines = []
    for c in g.get("rules", []):
        value = "n/a" if c["value"] is None else f"{c['value']:.4g}"
        lines.append(f"  gate rule {c['rule']:<34} {value:>10} limit {c['limit']:<8g} "
                     f"{'ok' if c['passed'] else 'BROKEN'}")
    if not g.get("enforced", True):
        verdict = "not enforced (report only)"
    else:
        verdict = "pass" if g["passed"] else "FAIL: " + ", ".join(g.get("failed", []))
    lines.append(f"gate: {verdict}")
    if g.get("too_small"):
        lines.append(f"gate: warning: {g['note']}")
    return lines
