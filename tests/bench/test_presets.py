"""Jetson deployment presets: valid data, lookup, and agreement with the engine build settings."""
from __future__ import annotations

import json

import pytest

from edgefashion.errors import BadInput, UnknownName
from edgefashion.export.presets import (
    PRESETS,
    DeployPreset,
    get_preset,
    list_presets,
    main,
)


def test_orin_fp16_and_int8_exist():
    assert {"orin-fp16", "orin-int8"} <= set(list_presets())
    assert get_preset("orin-fp16").precision == "fp16"
    assert get_preset("jetson-orin-int8") is get_preset("ORIN-INT8")


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_is_valid_and_round_trips(name):
    p = get_preset(name)
    lo, opt, hi = p.batch_range
    assert 1 <= lo <= opt <= hi
    assert p.notes and p.description and p.devices
    assert any("measured on the device" in n for n in p.notes)
    d = json.loads(json.dumps(p.to_dict()))
    assert DeployPreset.from_dict(d) == p
    shapes = p.profile_shapes()["image"]
    assert shapes["min"] == (lo, 3, p.input_size, p.input_size) and shapes["max"][0] == hi
    if p.dla is not None:
        assert lo == opt == hi  # DLA has no dynamic shapes


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_builds_engine_settings(name):
    from edgefashion.engine.settings import BuildSettings  # presets are data; the engine layer builds them

    s = BuildSettings(onnx="m.onnx", output="m.engine", **{**get_preset(name).build_options(), "calib": "photos"})
    assert s.precision == get_preset(name).precision
    assert "--precision" in s.to_command()


def test_unknown_preset_lists_valid_names():
    with pytest.raises(UnknownName, match="orin-fp16"):
        get_preset("xavier-fp16")


def test_invalid_presets_are_refused():
    with pytest.raises(BadInput, match="fixed"):
        DeployPreset(name="x", description="", precision="int8", batch="1:1:4", dla=0)
    with pytest.raises(BadInput, match="precision"):
        DeployPreset(name="x", description="", precision="fp32")
    with pytest.raises(BadInput, match="MIN:OPT:MAX"):
        DeployPreset(name="x", description="", precision="fp16", batch="4:1:2")
    with pytest.raises(BadInput, match="unknown preset fields"):
        DeployPreset.from_dict({**PRESETS["orin-fp16"].to_dict(), "fp16": True})


def test_presets_cli_writes_json(tmp_path, capsys):
    assert main(["--json", str(tmp_path)]) == 0
    files = sorted(p.stem for p in tmp_path.glob("*.json"))
    assert files == sorted(PRESETS)
    assert "orin-fp16" in capsys.readouterr().out
