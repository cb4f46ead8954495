"""Markdown table regeneration from JSON, the plot, and `edgefashion bench`."""
from __future__ import annotations

import json

import pytest

from edgefashion.bench.report import (
    END,
    START,
    load_results,
    markdown_table,
    regenerate_readme,
    target_table,
    update_section,
    validate_result,
)
from edgefashion.bench.suite import run_suite
from edgefashion.cli.main import main


@pytest.fixture(scope="module")
def result(tiny_onnx, tmp_path_factory):
    return run_suite(tiny_onnx, variants="onnxruntime,pytorch", batches="1,2", warmup=0, iters=3,
                     threads=1, workdir=tmp_path_factory.mktemp("w"), cold_start_runs=1)


def test_table_regenerated_from_json(result, tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(result))
    (tmp_path / "b.json").write_text(json.dumps({**result, "results": result["results"][:1]}))
    (tmp_path / "ops.json").write_text(json.dumps({"machine": {}, "rows": []}))  # another kind
    (tmp_path / "broken.json").write_text("{not json")
    target = {"format": "edgefashion-bench-target", "benchmark": "preprocess", "target": "x >= 3",
              "measured_text": "1.5x", "met": False, "environment": result["environment"]}
    (tmp_path / "t.json").write_text(json.dumps(target))
    readme = tmp_path / "README.md"
    readme.write_text(f"# Bench\n\nintro\n\n{START}\nold table\n{END}\n\n## After\nkept\n")
    files = list(tmp_path.glob("*.json"))
    assert [p.name for p, _ in load_results(files)] == ["a.json", "b.json"]
    body = regenerate_readme(readme, files, extra=target_table(files))
    text = readme.read_text()
    assert "old table" not in text and "intro" in text and "## After\nkept" in text
    rows = [ln for ln in body.splitlines() if ln.startswith("| msfan")]
    assert len(rows) == 3  # 2 batches from a.json + 1 from b.json
    assert "onnxruntime-fp32" in rows[0] and "pytorch-fp32 skipped" in body
    assert "| preprocess | x >= 3 | 1.5x | no |" in body
    regenerate_readme(readme, files, extra=target_table(files))
    assert readme.read_text() == text  # idempotent


def test_update_section_appends_markers_when_absent():
    out = update_section("# Title\n", "table")
    assert out.endswith(f"{START}\ntable\n{END}\n") and out.startswith("# Title")


def test_markdown_has_cold_start_and_fresh_rss(result):
    md = markdown_table([("r", result)])
    row = next(ln for ln in md.splitlines() if "onnxruntime-fp32 | cpu | 1 |" in ln)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[10]) > 0 and float(cells[11]) > 0  # RSS of the fresh process, cold start s


def test_plot_writes_png(result, tmp_path):
    pytest.importorskip("matplotlib")
    from edgefashion.bench.plot import plot_latency

    out = plot_latency(result, tmp_path / "lat.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bench_json_and_plot(tiny_onnx, tmp_path, capsys):
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    rc = main(["bench", str(tiny_onnx), "--batch", "1,2", "--warmup", "0", "--iters", "2",
               "--threads", "1", "--json", str(out), "--plot", str(png)])
    assert rc == 0
    validate_result(json.loads(out.read_text()))
    assert png.is_file()
    text = capsys.readouterr().out
    assert "onnxruntime-fp32" in text and f"wrote {out}" in text


def test_cli_bench_bad_batch(tiny_onnx, capsys):
    assert main(["bench", str(tiny_onnx), "--batch", "0"]) == 2
    assert "batch" in capsys.readouterr().err
