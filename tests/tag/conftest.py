"""Tag fixtures: the tiny real ONNX model, ~100 real photos (+ a corrupt and a missing one), one
real local Ray per session (2 CPUs, small object store), and a deadline on every test here.

No test may hang (a starved Ray Data job waits forever): each test gets SIGALRM after
TEST_TIMEOUT_S (a TimeoutError in the test), and faulthandler ends the process a minute later
if even that cannot interrupt it (a blocked C call), printing every thread's stack.
"""
from __future__ import annotations

import faulthandler
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stream"))
from stream_helpers import photo_paths, shared_onnx  # noqa: E402

TEST_TIMEOUT_S = 240
N_PHOTOS = 100


@pytest.fixture(autouse=True)
def deadline():
    def expire(signum, frame):
        raise TimeoutError(f"test ran past its {TEST_TIMEOUT_S} s deadline (a hung Ray job?)")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_TIMEOUT_S)
    faulthandler.dump_traceback_later(TEST_TIMEOUT_S + 60, exit=True)
    try:
        yield
    finally:
        signal.alarm(0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session")
def tag_onnx(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("pyarrow")
    return shared_onnx(tmp_path_factory)


@pytest.fixture(scope="session")
def photos(clothing_small) -> list[Path]:
    """N_PHOTOS real validation photos, cycling through the 10 categories."""
    return photo_paths(clothing_small, N_PHOTOS)


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory) -> dict[str, str]:
    """A truncated JPEG, a text file named .jpg and a path that does not exist."""
    d = tmp_path_factory.mktemp("bad_images")
    (d / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    (d / "not_an_image.jpg").write_text("this is not a JPEG")
    return {"truncated": str(d / "truncated.jpg"), "text": str(d / "not_an_image.jpg"),
            "missing": str(d / "missing.jpg")}


@pytest.fixture(scope="session")
def image_list(photos, bad_files, tmp_path_factory) -> Path:
    """A list file: the photos with the three bad files among them."""
    paths = [str(p) for p in photos]
    for i, bad in enumerate(bad_files.values()):
        paths.insert(10 + 30 * i, bad)
    f = tmp_path_factory.mktemp("lists") / "images.txt"
    f.write_text("# catalog\n" + "\n".join(paths) + "\n")
    return f


@pytest.fixture(scope="session")
def local_rows(tag_onnx, image_list, tmp_path_factory):
    """The local engine's answer for image_list (the reference the Ray tests compare with)."""
    from edgefashion.tag import read_output, tag_images

    out = tmp_path_factory.mktemp("local") / "tags.parquet"
    tag_images(image_list, out, tag_onnx, block_size=16, batch_size=8, progress=False)
    return read_output(out).to_pylist()


@pytest.fixture(scope="session")
def ray_cluster():
    """One real local Ray for the session: 2 CPUs, 100 MB object store, no dashboard."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
                 log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
