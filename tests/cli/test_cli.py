"""The CLI end to end on a small synthetic DeepFashion-C set: train -> evaluate -> export -> predict."""
from __future__ import annotations

import csv
import io
import json

import pytest

from edgefashion.cli.main import main
from edgefashion.data import generate_synthetic


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_synthetic(tmp_path_factory.mktemp("syn"), images_per_category=8, image_size=96)


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", str(dataset), "-o", str(out), "--width", "0.125", "--input-size", "64",
                 "--batch-norm", "--epochs", "2", "--batch-size", "8", "--quiet", "--lr", "1e-3"])
    assert code == 0
    return out


def test_train_writes_checkpoints_and_resumes(trained, dataset, capsys):
    summary = json.loads((trained / "train_summary.json").read_text())
    assert summary["epochs"] == 2 and summary["steps"] > 0
    assert (trained / "best.pt").is_file() and (trained / "last.pt").is_file()
    assert "val" in summary["history"][-1]
    code = main(["train", str(dataset), "-o", str(trained), "--width", "0.125", "--input-size", "64",
                 "--batch-norm", "--epochs", "3", "--batch-size", "8", "--quiet",
                 "--resume", str(trained / "last.pt")])
    assert code == 0
    resumed = json.loads((trained / "train_summary.json").read_text())
    assert resumed["epochs"] == 3 and len(resumed["history"]) == 3  # one more epoch, not three


def test_evaluate_export_predict_inspect(trained, dataset, tmp_path, capsys):
    ckpt = trained / "best.pt"
    assert main(["evaluate", str(ckpt), "--data", str(dataset), "--split", "test",
                 "-o", str(tmp_path / "eval")]) == 0
    rep = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert 0 <= rep["category_top1"] <= rep["category_top3"] <= rep["category_top5"] <= 1
    assert set(rep["attribute_top3_recall"]) >= {"overall", "texture", "sleeve"}
    assert (tmp_path / "eval" / "report.png").stat().st_size > 1000

    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(ckpt), "-o", str(onnx_path), "--check-images",
                 str(dataset / "img"), "--num-check", "4"]) == 0
    assert "max abs error" in capsys.readouterr().out

    # the ONNX model evaluates to the same metrics as the checkpoint
    assert main(["evaluate", str(onnx_path), "--data", str(dataset), "--split", "test",
                 "-o", str(tmp_path / "eval2")]) == 0
    rep2 = json.loads((tmp_path / "eval2" / "report.json").read_text())
    assert rep2["category_top1"] == rep["category_top1"]

    images = str(dataset / "img" / "Synthetic_Tee")
    assert main(["predict", str(onnx_path), images, "--format", "jsonl", "--save-vis",
                 str(tmp_path / "vis")]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert len(lines) == 8 and all(r["category"]["label"] for r in lines)
    assert len(list((tmp_path / "vis").glob("*.jpg"))) == 8

    assert main(["predict", str(onnx_path), images, "--format", "csv", "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out[out.index("image,"):])))
    assert len(rows) == 8 and rows[0]["top-k"].count(",") == 1

    assert main(["inspect", str(onnx_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "msfan" and "Tee" in info["categories"][0]


def test_errors_are_one_line_and_nonzero(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "missing.onnx"), "x.jpg"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing.onnx" in err and "Traceback" not in err
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not onnx at all")
    assert main(["inspect", str(bad)]) == 2
    assert "model.onnx" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_train_refuses_a_flag_the_model_does_not_have(dataset, tmp_path, capsys):
    """--batch-norm is a VGG option; msfan_student (ResNet-18) must say so, not crash."""
    assert main(["train", str(dataset), "--model", "msfan_student", "--batch-norm",
                 "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--batch-norm does not apply to model 'msfan_student'" in err and "width" in err


def test_build_names_an_unknown_preset(trained, tmp_path, capsys):
    onnx = tmp_path / "m.onnx"
    assert main(["export", str(trained / "best.pt"), "-o", str(onnx)]) == 0
    capsys.readouterr()
    assert main(["build", str(onnx), "--preset", "orin-fp64", "--explain", "10.3"]) == 2
    assert "orin-fp64" in capsys.readouterr().err
    assert main(["build", str(onnx), "--preset", "orin-fp16", "--batch", "1:2:8",
                 "--explain", "10.3"]) == 0
    out = capsys.readouterr().out
    assert "--precision fp16 --batch 1:2:8" in out  # the preset's precision, the explicit batch


def test_env_reports_backends_and_models(capsys):
    assert main(["env", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["backends"]["onnxruntime"] is True and "msfan" in info["models"]
    assert "extension" in info


def test_demo_smoke(tmp_path, capsys):
    """The demo's whole path with a tiny budget (the real run is README's first command)."""
    assert main(["demo", "-o", str(tmp_path), "--minutes", "0.1", "--images-per-category", "6",
                 "--epochs", "1", "--width", "0.125"]) == 0
    summary = json.loads((tmp_path / "demo_summary.json").read_text())
    assert summary["export"]["passed"] and summary["test"]["num_images"] > 0
    assert len(list((tmp_path / "vis").glob("*.jpg"))) > 0


def test_training_fits_temperatures_that_every_file_carries(trained, dataset, tmp_path, capsys):
    """best.pt's schema holds the category temperature fitted on validation (never raising the NLL
    it was fitted on); export carries it into the ONNX file, whose Predictor and evaluate use it."""
    from edgefashion.models.checkpoint import load_checkpoint
    from edgefashion.runtime.predictor import Predictor

    summary = json.loads((trained / "train_summary.json").read_text())
    fitted = summary["temperatures"]["category"]
    assert fitted["nll"] <= fitted["nll_raw"] + 1e-9
    _, info = load_checkpoint(trained / "best.pt")
    assert info["schema"].category_temperature == pytest.approx(fitted["temperature"])
    onnx_path = tmp_path / "t.onnx"
    assert main(["export", str(trained / "best.pt"), "-o", str(onnx_path)]) == 0
    assert Predictor(onnx_path, threads=1).schema.category_temperature == pytest.approx(fitted["temperature"])
    capsys.readouterr()
    assert main(["inspect", str(onnx_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["temperatures"]["category"] == pytest.approx(fitted["temperature"], abs=1e-4)
    assert main(["evaluate", str(onnx_path), "--data", str(dataset), "-o", str(tmp_path / "ev")]) == 0
    rep = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert rep["calibration"]["category"]["temperature"] == pytest.approx(fitted["temperature"])
    assert "scores of" in capsys.readouterr().out


def test_no_temperature_leaves_the_scores_as_trained(dataset, tmp_path):
    from edgefashion.models.checkpoint import load_checkpoint

    assert main(["train", str(dataset), "-o", str(tmp_path), "--width", "0.125", "--input-size", "64",
                 "--batch-norm", "--epochs", "1", "--batch-size", "8", "--quiet", "--no-temperature"]) == 0
    assert json.loads((tmp_path / "train_summary.json").read_text())["temperatures"] is None
    assert load_checkpoint(tmp_path / "best.pt")[1]["schema"].category_temperature == 1.0


def test_calibrate_writes_a_copy_with_refitted_temperatures(trained, dataset, tmp_path, capsys):
    """`calibrate` refits the temperatures of a .pt or .onnx on a labelled split and writes a copy:
    the same weights and raw outputs, a schema with the new temperature; the source is untouched."""
    import numpy as np

    from edgefashion.data.splits import load_split
    from edgefashion.models.checkpoint import load_checkpoint
    from edgefashion.runtime.predictor import Predictor
    from edgefashion.training.evaluate import collect_outputs
    from edgefashion.training.temperature import choose_temperature

    src = tmp_path / "m.onnx"
    assert main(["export", str(trained / "best.pt"), "-o", str(src)]) == 0
    before = Predictor(src, threads=1)
    assert main(["calibrate", str(src), "--data", str(dataset), "--split", "test", "--prior", "0"]) == 0
    out = tmp_path / "m.calibrated.onnx"
    assert "wrote" in capsys.readouterr().out and out.is_file()
    after = Predictor(out, threads=1)
    _, samples = load_split(dataset, "test", schema=before.schema)
    outs = collect_outputs(before.infer, samples, before.preprocess_config, 8)
    assert after.schema.category_temperature == pytest.approx(
        choose_temperature(outs["category_logits"], outs["categories"], prior=0.0))
    again = collect_outputs(after.infer, samples, after.preprocess_config, 8)
    np.testing.assert_array_equal(again["category_logits"], outs["category_logits"])
    assert Predictor(src, threads=1).schema == before.schema  # the source file is unchanged

    ckpt = tmp_path / "c.pt"
    assert main(["calibrate", str(trained / "best.pt"), "--data", str(dataset), "--split", "test",
                 "-o", str(ckpt)]) == 0
    model, info = load_checkpoint(ckpt)
    original, _ = load_checkpoint(trained / "best.pt")
    assert all((a == b).all() for a, b in zip(model.state_dict().values(), original.state_dict().values()))
    assert info["schema"].category_temperature == pytest.approx(
        choose_temperature(outs["category_logits"], outs["categories"]), rel=1e-3)


def test_calibrate_refuses_what_it_cannot_rewrite(trained, dataset, tmp_path, capsys):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not an engine")
    assert main(["calibrate", str(engine), "--data", str(dataset)]) == 2
    assert "calibrate the .onnx it was made from" in capsys.readouterr().err
    assert main(["calibrate", str(trained / "best.pt"), "--data", str(dataset), "--prior", "-1"]) == 2
    assert "--prior -1.0 must be a finite number >= 0" in capsys.readouterr().err
    assert main(["calibrate", str(trained / "best.pt"), "--data", str(dataset), "--prior", "nan"]) == 2
    assert "--prior nan must be a finite number" in capsys.readouterr().err


def test_calibrate_says_when_a_model_has_no_softmax_head(dataset, tmp_path, capsys):
    """One category and only multi-label groups: nothing to calibrate (thresholds serve those)."""
    from edgefashion.labels.schema import Attribute, Category, LabelSchema
    from edgefashion.models.checkpoint import save_checkpoint
    from edgefashion.models.registry import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig

    schema = LabelSchema((Category("any garment"),), (Attribute("striped", "texture"),
                                                      Attribute("dotted", "texture")))
    model = create_model("msfan_lite", 1, 2, width=0.25, input_size=64, head_dim=8).eval()
    path = save_checkpoint(tmp_path / "one.pt", model, schema, PreprocessConfig(input_size=64))
    assert main(["calibrate", str(path), "--data", str(dataset), "--split", "test"]) == 2
    assert "has no softmax head to calibrate" in capsys.readouterr().err


def test_evaluate_on_data_labelled_with_another_attribute_list_is_a_schema_error(dataset, tmp_path,
                                                                                 capsys):
    """A model whose schema has 2 attributes run on data with DeepFashion-style 20-label rows: one
    line naming the file and both counts, not a numpy broadcast error."""
    from edgefashion.labels.schema import Attribute, Category, LabelSchema
    from edgefashion.models.checkpoint import save_checkpoint
    from edgefashion.models.registry import create_model
    from edgefashion.runtime.preprocess import PreprocessConfig

    cats = [Category(p.name.removeprefix("Synthetic_")) for p in sorted((dataset / "img").iterdir())]
    schema = LabelSchema(tuple(cats), (Attribute("striped", "texture"), Attribute("dotted", "texture")))
    model = create_model("msfan_lite", len(cats), 2, width=0.25, input_size=64, head_dim=8).eval()
    path = save_checkpoint(tmp_path / "other.pt", model, schema, PreprocessConfig(input_size=64))
    assert main(["evaluate", str(path), "--data", str(dataset), "--split", "test",
                 "-o", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert "attribute labels but the schema has 2 attributes" in err and err.count("\n") == 1
