"""``tag --runner ray`` on a real local Ray (2 CPUs, one per test session): the same answer as the
local engine for every image, at 1 and 2 actors; an actor killed mid-run loses and duplicates
nothing; an interrupted run resumes writing each image exactly once.

Actors are sized by the engine so Ray Data's own tasks always find a CPU (0.75 + 0.75 of 2 CPUs
at two actors); the deadline fixture in conftest.py ends any test that would hang."""
from __future__ import annotations

import os
import signal

import pytest
from tag_helpers import Interrupt, assert_same_rows, check_resumed, rows_by_path, stop_after

from edgefashion.errors import BadInput
from edgefashion.tag.options import TagOptions

pytestmark = pytest.mark.needs_data
ACTOR_NAME = "TagWorker"  # Ray names an actor's process ray::MapWorker(MapBatches(TagWorker))


def test_actor_sizing_leaves_a_cpu_for_ray_data():
    from edgefashion.tag.ray_engine import actor_cpus

    assert actor_cpus(TagOptions(engine="ray", workers=1), 2) == 1.5
    assert actor_cpus(TagOptions(engine="ray", workers=2), 2) == 0.75
    with pytest.raises(BadInput, match="leave no CPU"):
        actor_cpus(TagOptions(engine="ray", workers=2, cpus_per_worker=1), 2)


@pytest.mark.parametrize("actors", [1, 2])
def test_ray_gives_the_local_answer_for_every_image(ray_cluster, tag_onnx, image_list, local_rows,
                                                   actors, tmp_path):
    from edgefashion.tag import tag_images

    out = tmp_path / "ray.parquet"
    # at 2 actors, also the cluster path: with an address the model's bytes travel through Ray's
    # object store to the actors (here "auto" finds the session's Ray, already connected)
    address = "auto" if actors == 2 else None
    s = tag_images(image_list, out, tag_onnx, engine="ray", workers=actors, block_size=16,
                   batch_size=8, progress=False, address=address)
    assert (s.written, s.errors, s.engine) == (len(local_rows), 3, "ray")
    assert_same_rows(rows_by_path(out), local_rows)


def _actor_pids() -> list[int]:
    psutil = pytest.importorskip("psutil")
    pids = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if cmd.startswith("ray::") and ACTOR_NAME in cmd:
            pids.append(proc.info["pid"])
    return pids


def test_killed_actor_loses_and_duplicates_nothing(ray_cluster, tag_onnx, image_list, local_rows,
                                                   tmp_path):
    """SIGKILL the actor after the first part: Ray restarts it and retries its block."""
    from edgefashion.tag import tag_images

    killed: list[int] = []

    def kill_once(n: int, total: int) -> None:
        if not killed:
            pids = _actor_pids()
            assert pids, "no TagWorker actor process found"
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    out = tmp_path / "killed.parquet"
    s = tag_images(image_list, out, tag_onnx, engine="ray", workers=1, block_size=16,
                   batch_size=8, progress=False, on_part=kill_once)
    assert killed and s.written == len(local_rows)
    assert_same_rows(rows_by_path(out), local_rows)


def test_ray_resume_after_interruption(ray_cluster, tag_onnx, image_list, local_rows, tmp_path):
    from edgefashion.tag import tag_images

    out = tmp_path / "resumed.parquet"
    with pytest.raises(Interrupt):
        tag_images(image_list, out, tag_onnx, engine="ray", block_size=16, batch_size=8,
                   progress=False, on_part=stop_after(3))
    first = len(rows_by_path(out))
    assert first == 48
    s = tag_images(image_list, out, tag_onnx, engine="ray", block_size=16, batch_size=8,
                   progress=False)
    check_resumed(out, first, local_rows, s)
