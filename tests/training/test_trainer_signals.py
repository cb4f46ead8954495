"""Training with DataLoader worker processes leaves the process's SIGCHLD handler as it found it.

torch installs its own handler the first time a multi-worker loader starts and never removes it;
with OpenVINO loaded later in the same interpreter, the next child process to exit crashed
Python (SIGSEGV, seen in CI). torch installs it once per process, so the check runs in a fresh
interpreter, where the first multi-worker loader is the Trainer's.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import signal, subprocess, sys, tempfile
    from pathlib import Path
    import torch
    from edgefashion.data import Sample
    from edgefashion.labels import LabelSchema
    from edgefashion.models import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig
    from edgefashion.training import TrainConfig, Trainer

    photos = [Path(p) for p in sys.argv[1:]]
    cats = sorted({p.parent.name for p in photos})
    samples = [Sample(p, cats.index(p.parent.name)) for p in photos]
    before = signal.getsignal(signal.SIGCHLD)
    model = create_model("msfan_student", len(cats), 0, width=0.125, input_size=64)
    cfg = TrainConfig(epochs=1, batch_size=4, num_workers=2, progress=False, threads=1)
    with tempfile.TemporaryDirectory() as out:
        Trainer(model, LabelSchema.simple(cats), PreprocessConfig(input_size=64), cfg, out).fit(samples)
    after = signal.getsignal(signal.SIGCHLD)
    print("same" if after is before else f"changed: {after!r}")
    import torch.utils.data._utils.signal_handling as sh
    print("torch_installed" if sh._SIGCHLD_handler_set else "torch_not_installed")
    subprocess.run([sys.executable, "-c", "pass"], check=True)  # a child exits afterwards
""")


def test_fit_with_workers_restores_the_sigchld_handler(real_photos):
    out = subprocess.run([sys.executable, "-c", SCRIPT, *map(str, real_photos[:8])],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split()
    assert "torch_installed" in lines  # the loader really did install torch's handler ...
    assert "same" in lines, out.stdout  # ... and fit put the previous one back
