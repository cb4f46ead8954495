"""benchmarks/distill.py's commands and its latency snippet (run as the benchmark runs it, in a fresh
process, on a real exported model): stop 31 removed the function the snippet called and nothing ran it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import distill  # noqa: E402
from edgefashion.precision import target_eval as te  # noqa: E402


def test_latency_snippet_times_a_real_model(onnx_path, eval_photos, prep_cfg, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, te.EvalImages.load(eval_photos[:1], prep_cfg, None).batches[0][:1])
    res = subprocess.run([sys.executable, "-c", distill.LATENCY_SNIPPET, str(onnx_path), "onnxruntime",
                          str(x), "3"], check=True, capture_output=True, text=True)
    ms = float(res.stdout.strip().splitlines()[-1])
    assert 0 < ms < 60_000


def test_commands_per_config(tmp_path):
    args = (Path("DATA"), 0, 12.0, "efficientnet-lite2", tmp_path, ["--max-train", "300"])
    student = distill.train_command(args[0], "student", *args[1:])
    semi = distill.train_command(args[0], "semi", *args[1:], unlabelled=Path("DATA/train"))
    assert "--teacher" not in student and student[-2:] == ["--max-train", "300"]
    assert semi[:len(student)] == student
    assert semi[len(student):] == ["--teacher", "efficientnet-lite2", "--semi-supervised",
                                   "--unlabelled", "DATA/train"]
    assert distill.train_command(args[0], "distilled", *args[1:])[-2:] == ["--teacher", "efficientnet-lite2"]
