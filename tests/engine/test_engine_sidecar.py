"""model.engine.json: write / read / validate, and mismatch errors that print the exact rebuild command."""
from __future__ import annotations

import json
import shlex
from dataclasses import replace

import pytest

from edgefashion.engine.settings import BuildSettings
from edgefashion.engine.sidecar import check_source, make_sidecar, recorded_settings, settings_of, write_sidecar
from edgefashion.errors import BadInput, EngineMismatch, EngineMismatchError, ModelFileError
from edgefashion.runtime.metadata import (preprocess_from_metadata, read_onnx_metadata, read_sidecar,
                                          schema_from_metadata, sidecar_path)
from edgefashion.runtime.tensorrt.sidecar import (EngineInfo, GpuInfo, RuntimeEnv, check_engine, engine_mismatches,
                                                  read_engine_sidecar, rebuild_command, sha256_file)

ORIN = GpuInfo("Orin", "8.7")
A100 = GpuInfo("NVIDIA A100-SXM4-80GB", "8.0")


def make_info(onnx, engine, settings: BuildSettings, **over) -> EngineInfo:
    base = dict(
        file=engine.name, sha256=sha256_file(engine), size=engine.stat().st_size, precision="int8",
        build_path="builder_flags", tensorrt_version="8.6.1", gpu_name=ORIN.name,
        compute_capability=ORIN.compute_capability,
        profiles={"image": {"min": [1, 3, 64, 64], "opt": [8, 3, 64, 64], "max": [32, 3, 64, 64]}},
        io={"inputs": {"image": {"shape": [-1, 3, 64, 64], "dtype": "float32"}}, "outputs": {}},
        source_onnx=str(onnx), source_onnx_sha256=sha256_file(onnx), **recorded_settings(settings),
    )
    return EngineInfo(**{**base, **over})


@pytest.fixture()
def built(tiny_onnx, tmp_path):
    """A sidecar written as the builder writes it, for a stand-in engine file."""
    engine = tmp_path / "deploy dir" / "model.engine"
    engine.parent.mkdir()
    engine.write_bytes(b"not a real plan, but hashed like one" * 100)
    settings = BuildSettings(onnx=str(tiny_onnx), output=str(engine), precision="int8", batch="1:8:32",
                             workspace_mb=2048, timing_cache=str(tmp_path / "trt.cache"),
                             calib=str(tmp_path / "photos"), calib_cache=str(tmp_path / "calib.json"),
                             dla=0).resolved()
    info = make_info(tiny_onnx, engine, settings)
    write_sidecar(engine, make_sidecar(read_onnx_metadata(tiny_onnx), info))
    return engine, info, settings


def test_sidecar_round_trip_and_runtime_metadata(built, schema, prep_cfg):
    engine, info, _ = built
    side = read_engine_sidecar(engine)
    assert side.engine == info and side.path == sidecar_path(engine)
    meta = read_sidecar(engine)  # what the runtime reads: the ONNX metadata + the engine section
    assert schema_from_metadata(meta) == schema
    assert preprocess_from_metadata(meta) == prep_cfg
    assert meta["engine"]["sha256"] == sha256_file(engine)
    assert json.loads(sidecar_path(engine).read_text())["model"] == "msfan"


def test_matching_engine_passes(built):
    engine, info, _ = built
    check_engine(read_engine_sidecar(engine), engine, RuntimeEnv("8.6.1.6", ORIN))  # build number ignored


@pytest.mark.parametrize("env, match", [
    (RuntimeEnv("10.3.0", ORIN), r"built with TensorRT 8\.6\.1 and this machine has TensorRT 10\.3\.0"),
    (RuntimeEnv("8.6.1", A100), r"compute capability 8\.7 \(Orin\) and this GPU is NVIDIA A100.*8\.0"),
    (RuntimeEnv("8.6.1", GpuInfo("Jetson AGX Orin", "8.7")), "same compute capability 8.7"),
])
def test_mismatch_names_the_difference_and_the_rebuild_command(built, env, match):
    engine, info, settings = built
    with pytest.raises(EngineMismatchError, match=match) as e:
        check_engine(read_engine_sidecar(engine), engine, env)
    assert isinstance(e.value, EngineMismatch)
    msg = str(e.value)
    assert rebuild_command(info, engine) in msg and "rebuild_on_mismatch=True" in msg
    assert "--precision int8 --batch 1:8:32 --workspace 2048" in msg


def test_the_sidecar_is_plain_data_with_the_exact_rebuild_command(built, tmp_path):
    engine, info, settings = built
    section = json.loads(sidecar_path(engine).read_text())["engine"]
    assert section["builder"] == settings.to_dict() and section["rebuild_command"] == settings.to_command()
    assert settings_of(read_engine_sidecar(engine).engine) == settings  # what a rebuild replays
    assert rebuild_command(info, engine) == settings.to_command(output=engine)
    moved = tmp_path / "elsewhere" / "model.engine"  # the command names the engine where it is now
    assert rebuild_command(info, moved) == settings.to_command(output=moved)


def test_a_sidecar_written_before_the_rebuild_command_still_reads(built):
    engine, info, settings = built
    side = sidecar_path(engine)
    data = json.loads(side.read_text())
    del data["engine"]["rebuild_command"]
    side.write_text(json.dumps(data))
    old = read_engine_sidecar(engine).engine
    assert old == replace(info, rebuild_command=None) and settings_of(old) == settings
    argv = shlex.split(rebuild_command(old, engine))
    assert argv[:5] == ["edgefashion", "build", info.source_onnx, "-o", str(engine)]
    assert argv[5:] == ["--precision", "int8", "--batch", "1:8:32"]
    with pytest.raises(EngineMismatchError, match="edgefashion build .*--precision int8 --batch 1:8:32"):
        check_engine(read_engine_sidecar(engine), engine, RuntimeEnv("10.3.0", ORIN))


def test_changed_engine_file_is_a_mismatch(built):
    engine, info, _ = built
    engine.write_bytes(engine.read_bytes() + b"x")
    problems = engine_mismatches(info, RuntimeEnv("8.6.1", ORIN), sha256_file(engine))
    assert len(problems) == 1 and "sha256" in problems[0]
    with pytest.raises(EngineMismatchError, match="replaced"):
        check_engine(read_engine_sidecar(engine), engine, RuntimeEnv("8.6.1", ORIN))


def test_rebuild_command_replays_through_the_real_cli_parser(built):
    from edgefashion.cli.build import settings_from_args
    from edgefashion.cli.main import build_parser

    engine, info, settings = built
    argv = shlex.split(rebuild_command(info, engine))  # the paths hold a space: quoting matters
    assert argv[:2] == ["edgefashion", "build"]
    args = build_parser().parse_args(argv[1:])
    assert settings_from_args(args).resolved() == settings


def test_settings_validation_and_round_trip(tmp_path):
    s = BuildSettings(onnx="m.onnx", output="m.engine", batch=8, plugins="a.so")
    assert s.batch == "8:8:8" and s.plugins == ("a.so",)
    assert BuildSettings.from_dict(s.to_dict()) == s
    assert s.to_command() == "edgefashion build m.onnx -o m.engine --batch 8:8:8 --plugins a.so"
    for bad, match in [({"precision": "int4"}, "precision 'int4'"), ({"workspace_mb": 0}, "workspace_mb=0"),
                       ({"dla": 0, "precision": "fp32"}, "DLA cores run fp16 or int8"), ({"max_drop": -1}, "max_drop"),
                       ({"calibrator": "entropy"}, "needs calibration images"), ({"batch": "9:1"}, "min <= opt")]:
        with pytest.raises(BadInput, match=match):
            BuildSettings(onnx="m.onnx", output="m.engine", **bad)
    with pytest.raises(BadInput, match="unknown build settings"):
        BuildSettings.from_dict({"onnx": "a", "output": "b", "fp16": True})


def test_malformed_sidecars_are_model_file_errors(built):
    engine, info, _ = built
    side = sidecar_path(engine)
    data = json.loads(side.read_text())
    del data["engine"]["sha256"]
    side.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"lacks engine fields \['sha256'\]"):
        read_engine_sidecar(engine)
    side.write_text(json.dumps({"format_version": 1, "model": "msfan"}))
    with pytest.raises(ModelFileError, match="no 'engine' section"):
        read_engine_sidecar(engine)
    data["engine"]["sha256"] = "0" * 64
    data["engine"]["sidecar_version"] = 99
    side.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="newer than this edgefashion"):
        read_engine_sidecar(engine)
    data["engine"]["sidecar_version"], data["engine"]["precision"] = 1, "int4"
    side.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="malformed engine section.*int4"):
        read_engine_sidecar(engine)
    data["engine"]["precision"], data["engine"]["rebuild_command"] = "int8", "edgefashion build 'm.onnx"
    side.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="malformed engine section.*not a shell command"):
        read_engine_sidecar(engine)
    side.unlink()
    assert read_engine_sidecar(engine) is None  # an engine from trtexec: no sidecar, no checks


def test_check_source_before_a_rebuild(built, tiny_onnx, tmp_path):
    engine, info, _ = built
    check_source(info)
    with pytest.raises(ModelFileError, match="does not exist any more"):
        check_source(replace(info, source_onnx=str(tmp_path / "gone.onnx")))
    with pytest.raises(EngineMismatchError, match="changed since the engine was built"):
        check_source(replace(info, source_onnx_sha256="0" * 64))


def test_describe_engine_for_inspect(built, tmp_path):
    from edgefashion.errors import MissingMetadata
    from edgefashion.runtime.tensorrt.sidecar import describe_engine

    engine, info, _ = built
    d = describe_engine(engine)
    assert d["precision"] == "int8" and d["batch"] == {"image": "1:8:32"} and d["model"] == "msfan"
    assert d["gpu"] == "Orin (compute capability 8.7)" and d["rebuild"] == rebuild_command(info, engine)
    with pytest.raises(MissingMetadata, match="no sidecar"):
        describe_engine(tmp_path / "other.engine")
