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
