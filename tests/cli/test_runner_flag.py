"""``--runner local|ray`` (tag, serve): the execution runner; ``--engine`` stays one release as a
deprecated alias, so "engine" means a TensorRT engine everywhere else."""
from __future__ import annotations

import pytest

from edgefashion.cli.main import build_parser
from edgefashion.errors import BadInput


@pytest.mark.parametrize("cmd", [["tag", "photos/", "-o", "t.parquet", "--model", "m.onnx"],
                                 ["serve", "--model", "m.onnx"]])
def test_runner_flag_and_its_deprecated_alias(cmd, capsys):
    from edgefashion.cli.common import runner_of

    parse = build_parser().parse_args
    assert runner_of(parse(cmd)) == "local"
    assert runner_of(parse([*cmd, "--runner", "ray"])) == "ray"
    assert capsys.readouterr().err == ""
    assert runner_of(parse([*cmd, "--engine", "ray"])) == "ray"
    assert "--engine ray is deprecated" in capsys.readouterr().err
    with pytest.raises(BadInput, match="--runner local and --engine ray disagree"):
        runner_of(parse([*cmd, "--runner", "local", "--engine", "ray"]))
    assert "--engine" not in build_parser()._subparsers._group_actions[0].choices[cmd[0]].format_help()


@pytest.mark.parametrize("cmd", [["train", "data/"], ["tag", "photos/", "-o", "t.parquet", "--model", "m.onnx"],
                                 ["quantize", "m.onnx"], ["compare", "a.onnx", "b.onnx", "--images", "i/"],
                                 ["build", "m.onnx"], ["stream", "0", "--model", "m.onnx"]])
def test_quiet_flag_and_the_deprecated_no_progress(cmd, capsys):
    from edgefashion.cli.common import quiet_of

    parse = build_parser().parse_args
    assert quiet_of(parse(cmd)) is False
    assert quiet_of(parse([*cmd, "--quiet"])) is True
    assert quiet_of(parse([*cmd, "-q"])) is True
    assert capsys.readouterr().err == ""
    assert quiet_of(parse([*cmd, "--no-progress"])) is True
    assert "--no-progress is deprecated" in capsys.readouterr().err
    assert "--no-progress" not in build_parser()._subparsers._group_actions[0].choices[cmd[0]].format_help()


def test_calib_cache_none_and_the_deprecated_no_calib_cache(capsys):
    from edgefashion.cli.quantize import calib_cache_of

    parse = build_parser().parse_args
    base = ["quantize", "m.onnx"]
    assert calib_cache_of(parse(base)) == "auto"
    assert calib_cache_of(parse([*base, "--calib-cache", "c.json"])) == "c.json"
    assert calib_cache_of(parse([*base, "--calib-cache", "none"])) is None
    assert capsys.readouterr().err == ""
    assert calib_cache_of(parse([*base, "--no-calib-cache"])) is None
    assert "--no-calib-cache is deprecated" in capsys.readouterr().err
