"""``tag`` with the local engine (no Ray): sources, rows equal to the Predictor's own answers,
corrupt / missing images as error rows, resume after an interruption, the CLI, the install hint."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tag_helpers import Interrupt, check_resumed, error_type, rows_by_path, stop_after

from edgefashion.errors import BadInput, DatasetError

pytestmark = pytest.mark.needs_data


def test_sources_folder_glob_list_and_tables(photos, image_list, bad_files, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from edgefashion.tag.sources import list_images

    folder = photos[0].parent
    in_folder = sorted(str(p) for p in folder.glob("*.jpg"))
    assert list_images(folder) == in_folder
    assert list_images(str(folder / "*.jpg")) == in_folder
    listed = list_images(image_list)  # the missing file is kept: it becomes an error row
    assert len(listed) == len(photos) + 3 and bad_files["missing"] in listed
    rel = [os.path.relpath(p, tmp_path) for p in photos[:5]]
    pq.write_table(pa.table({"id": range(5), "image": rel}), tmp_path / "t.parquet")
    pcsv.write_csv(pa.table({"path": rel + rel[:1]}), tmp_path / "t.csv")  # a duplicate
    want = [str(p) for p in photos[:5]]
    assert list_images(tmp_path / "t.parquet") == want       # relative to the table's folder
    assert list_images(tmp_path / "t.csv") == want           # duplicates dropped
    with pytest.raises(BadInput, match="no path column 'file'"):
        list_images(tmp_path / "t.parquet", path_column="file")
    with pytest.raises(DatasetError, match="does not exist"):
        list_images(tmp_path / "nowhere")


def test_rows_are_the_predictors_answers(tag_onnx, photos, local_rows):
    from edgefashion.runtime.predictor import Predictor

    rows = {r["path"]: r for r in local_rows}
    paths = [str(p) for p in photos]
    with Predictor(tag_onnx, batch_size=8, threads=1) as p:
        preds = p(paths, top_k=5)
    for path, pred in zip(paths, preds):
        r = rows[path]
        assert r["error"] is None and r["category"] == pred.category.label
        assert r["score"] == pytest.approx(pred.category.score, abs=1e-6)
        assert [(t["label"], pytest.approx(t["score"], abs=1e-6)) for t in r["top_k"]] == \
            pred.category.top(5)
        assert r["attributes"] == pred.labels
        assert {a["label"]: a["score"] for a in r["attribute_scores"]} == \
            pytest.approx(pred.scores, abs=1e-6)
        assert r["embedding"] is None  # this model has no embedding output
    assert len({r["category"] for r in local_rows if r["category"]}) > 1  # answers vary


def test_bad_images_are_error_rows_not_failures(local_rows, bad_files, photos):
    rows = {r["path"]: r for r in local_rows}
    assert len(rows) == len(photos) + 3
    for path in bad_files.values():
        assert error_type(rows[path]) == "ImageDecodeError"
        assert rows[path]["category"] is None and rows[path]["top_k"] is None
    assert "does not exist" in rows[bad_files["missing"]]["error"]
    assert sum(r["error"] is not None for r in local_rows) == 3


def test_resume_after_interruption_writes_each_image_once(tag_onnx, image_list, local_rows,
                                                          tmp_path):
    from edgefashion.tag import tag_images

    out = tmp_path / "tags.parquet"
    with pytest.raises(Interrupt):
        tag_images(image_list, out, tag_onnx, block_size=16, batch_size=8, progress=False,
                   on_part=stop_after(2))
    assert len(rows_by_path(out)) == 32
    (out / ".part-crashed-000009.parquet.tmp").write_bytes(b"half a part")  # a crash mid-write
    summary = tag_images(image_list, out, tag_onnx, block_size=16, batch_size=8, progress=False)
    check_resumed(out, 32, local_rows, summary)
    assert not list(out.glob(".part-*.tmp"))
    again = tag_images(image_list, out, tag_onnx, block_size=16, progress=False)
    assert (again.written, again.skipped) == (0, len(local_rows))


def test_two_runs_in_one_second_keep_each_others_parts(local_rows, tmp_path):
    """Part names were time + pid: a resume in the same process and second replaced the
    interrupted run's parts (seen as a flaky resume test). Each run now has its own name."""
    import pyarrow as pa

    from edgefashion.tag.resume import TagOutput, read_output

    table = pa.Table.from_pylist(local_rows)
    manifest = {"model": "m", "categories": ["a"], "attributes": []}
    first = TagOutput(tmp_path / "o.parquet", manifest)
    assert first.write(table.slice(0, 10)) == 10
    second = TagOutput(tmp_path / "o.parquet", manifest)  # same process, same second
    assert second.run != first.run and len(second.done) == 10
    assert second.write(table) == len(local_rows) - 10
    assert len(first.parts()) == 2
    assert sorted(read_output(tmp_path / "o.parquet").column("path").to_pylist()) == \
        sorted(r["path"] for r in local_rows)


def test_output_of_another_model_or_a_file_is_refused(tag_onnx, photos, tmp_path):
    from edgefashion.tag import tag_images

    out = tmp_path / "tags.parquet"
    tag_images(photos[:4], out, tag_onnx, block_size=2, progress=False)
    manifest = json.loads((out / "_tag.json").read_text())
    manifest["categories"] = ["other"]
    (out / "_tag.json").write_text(json.dumps(manifest))
    with pytest.raises(BadInput, match="written by another model"):
        tag_images(photos[:4], out, tag_onnx, progress=False)
    assert tag_images(photos[:4], out, tag_onnx, progress=False, overwrite=True).written == 4
    (tmp_path / "file.parquet").write_bytes(b"x")
    with pytest.raises(BadInput, match="is a file"):
        tag_images(photos[:4], tmp_path / "file.parquet", tag_onnx, progress=False)
    with pytest.raises(BadInput, match="unknown tag option"):
        tag_images(photos[:4], out, tag_onnx, actors=2)


def test_cli_tag_and_resume(tag_onnx, image_list, local_rows, tmp_path, capsys):
    from edgefashion.cli.main import main

    out = tmp_path / "cli.parquet"
    argv = ["tag", str(image_list), "-o", str(out), "--model", str(tag_onnx), "--block-size", "16",
            "--batch-size", "8", "--actors", "2", "--quiet", "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (first["written"], first["errors"]) == (len(local_rows), 3)
    assert rows_by_path(out) == {r["path"]: r for r in local_rows}  # 2 threads, same answers
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["written"] == 0


def test_engine_ray_without_ray_says_how_to_install(tag_onnx, photos, tmp_path):
    """A real interpreter where `import ray` fails, as on a machine without the extra."""
    code = ("import sys; sys.modules['ray'] = None\n"
            "from edgefashion.cli.main import main\n"
            f"sys.exit(main(['tag', {str(photos[0])!r}, '-o', {str(tmp_path / 'o.parquet')!r}, "
            f"'--model', {str(tag_onnx)!r}, '--runner', 'ray', '--quiet']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert 'pip install "edgefashion[ray]"' in r.stderr


def test_fsspec_url_source(tag_onnx, photos, local_rows, tmp_path):
    """Images behind an fsspec URL (here fsspec's in-memory filesystem: the local engine reads the
    bytes through fsspec exactly as it would from s3://) get the same answers as the files."""
    fsspec = pytest.importorskip("fsspec")
    from edgefashion.tag import read_output, tag_images

    fs = fsspec.filesystem("memory")
    for i, p in enumerate(photos[:6]):
        fs.pipe(f"/edgefashion-test/shop/{i:02d}.jpg", p.read_bytes())
    try:
        out = tmp_path / "url.parquet"
        s = tag_images("memory://edgefashion-test/shop", out, tag_onnx, batch_size=8, progress=False)
        assert (s.written, s.errors) == (6, 0)
        want = {r["path"]: r for r in local_rows}
        for r in sorted(read_output(out).to_pylist(), key=lambda r: r["path"]):
            ref = want[str(photos[int(r["path"][-6:-4])])]
            assert r["path"].startswith("memory://") and r["category"] == ref["category"]
            assert r["score"] == pytest.approx(ref["score"], abs=1e-6)
        with pytest.raises(DatasetError, match="does not exist"):
            tag_images("memory://edgefashion-test/nowhere", tmp_path / "x.parquet", tag_onnx)
    finally:
        fs.rm("/edgefashion-test", recursive=True)
    from edgefashion.tag.sources import list_images

    with pytest.raises(BadInput, match="Protocol not known"):
        list_images("nosuchfs://bucket/photos/")
