"""QuantizeOptions (precision/options.py): one record of quantize_onnx's settings; keywords fill it,
and a mistyped one is a BadInput that names it."""
from __future__ import annotations

import pytest

from edgefashion.cli.common import max_top1_drop_of
from edgefashion.cli.main import build_parser
from edgefashion.cli.quantize import options_from_args
from edgefashion.errors import BadInput
from edgefashion.precision.fallback import FallbackSettings
from edgefashion.precision.gate import DEFAULT_MAX_DROP, DEFAULT_MIN_AGREEMENT, GateRules
from edgefashion.precision.options import QuantizeOptions
from edgefashion.precision.qat_gate import qat_rules
from edgefashion.precision.quantize import quantize_onnx


def test_a_mistyped_keyword_names_itself_and_the_closest_field():
    with pytest.raises(BadInput, match=r"'calib_sise' \(did you mean 'calib_size'\?\)"):
        QuantizeOptions().with_(calib_sise=64)


def test_quantize_onnx_refuses_a_mistyped_keyword_before_reading_the_model(tmp_path):
    with pytest.raises(BadInput, match="min_agrement"):
        quantize_onnx(tmp_path / "missing.onnx", None, "int8", min_agrement=0.9)


@pytest.mark.parametrize("bad, match", [({"max_drop": -1}, "max_drop"), ({"weight_bits": 4}, "weight_bits"),
                                        ({"fp16_rounding": "up"}, "fp16 rounding"),
                                        ({"batch_size": 0}, "batch_size")])
def test_bad_values_are_refused_where_the_record_is_made(bad, match):
    with pytest.raises(BadInput, match=match):
        QuantizeOptions(**bad)


def test_gate_rules_follow_max_drop_min_agreement_or_the_given_rules():
    assert QuantizeOptions().gate_rules == GateRules(DEFAULT_MAX_DROP, DEFAULT_MIN_AGREEMENT)
    assert QuantizeOptions(max_drop=1.0, min_agreement=0.95).gate_rules == GateRules(1.0, 0.95)
    given = GateRules(2.0, 0.9)
    opts = QuantizeOptions(rules=given)
    assert opts.gate_rules is given and opts.gate_max_drop == 2.0
    off = QuantizeOptions(max_drop=None, rules=given)  # the gate reports, never refuses
    assert not off.enforced and off.gate_max_drop is None
    assert QuantizeOptions().gate_rules.max_top1_drop == 0.3 and DEFAULT_MIN_AGREEMENT == 0.995
    assert QuantizeOptions(max_top1_drop=None).gate_rules.max_top1_drop is None
    assert QuantizeOptions(max_top1_drop=1.0).gate_rules.max_top1_drop == 1.0


def test_qat_gate_needs_no_agreement_unless_asked():
    assert qat_rules(QuantizeOptions()).min_agreement == 0.0
    assert qat_rules(QuantizeOptions(max_drop=1.0)).max_top1_drop == 1.0
    assert qat_rules(QuantizeOptions()).top1_drop_without_labels  # its only top-1 rule
    assert qat_rules(QuantizeOptions(min_agreement=0.97)).min_agreement == 0.97


def test_fallback_settings_from_none_bool_or_settings():
    assert QuantizeOptions().fallback_settings.enabled
    assert not QuantizeOptions(fallback=False).fallback_settings.enabled
    own = FallbackSettings(budget=0.1)
    assert QuantizeOptions(fallback=own).fallback_settings is own


def test_the_cli_flags_make_the_record():
    args = build_parser().parse_args(
        ["quantize", "m.onnx", "--precision", "int8", "--calib", "photos/", "--calib-method", "minmax",
         "--keep-fp32", "gates", "heads", "--targets", "onnxruntime", "--no-gate", "--no-fallback",
         "--fallback-budget", "0.1", "--calib-cache", "none", "--weight-bits", "7", "--quiet"])
    opts = options_from_args(args)
    assert (opts.calib, opts.method, list(opts.keep_fp32), opts.targets) == \
        ("photos/", "minmax", ["gates", "heads"], "onnxruntime")
    assert opts.max_drop is None and opts.calib_cache is None and opts.weight_bits == 7
    assert not opts.fallback_settings.enabled and opts.fallback_settings.budget == 0.1
    assert not opts.progress and opts.report_path == "auto"
    assert opts.max_top1_drop == 0.3  # the default
    no_rule = build_parser().parse_args(["quantize", "m.onnx", "--max-top1-drop", "-1"])
    assert options_from_args(no_rule).max_top1_drop is None
    for cmd in (["compare", "a.onnx", "b.onnx", "--images", "x/"], ["quantize", "m.onnx"]):
        assert max_top1_drop_of(build_parser().parse_args([*cmd, "--max-top1-drop", "-1"])) is None
        assert max_top1_drop_of(build_parser().parse_args(cmd)) == 0.3
    one = build_parser().parse_args(["quantize", "m.onnx", "--max-top1-drop", "1", "--min-agreement", "0.98"])
    assert options_from_args(one).gate_rules == GateRules(0.5, 0.98, max_top1_drop=1.0)


def test_the_summary_of_a_fallback_that_only_switched_the_calibration_method():
    """Seen on a distilled msfan_lite: entropy failed, minmax passed, no layer was returned; the
    record then has no MAC share and the summary must not crash after the file is written."""
    from edgefashion.cli.quantize import fallback_lines

    only_method = {"passed": True, "calibration_methods": {"entropy": {}, "percentile": {}, "minmax": {}},
                   "steps": [], "returned": [], "exclude": [], "budget": 0.25}
    assert fallback_lines(only_method, "minmax") == [
        "fallback: calibration method minmax passed the gate (tried entropy, percentile, minmax); "
        "no layer returned to fp32"]
    layers = {"returned": ["/blocks.2/conv"], "fp32_share": 0.031, "budget": 0.25, "ranked_on": ["openvino"],
              "latency_ms": {"openvino": {"fp32": 4.0, "int8": 2.0, "fallback": 2.2, "speedup_kept": 0.9}}}
    lines = fallback_lines(layers, "entropy")
    assert lines[0].startswith("fallback: /blocks.2/conv returned to fp32 (3.1% of the MACs")
    assert "90% of the int8 speed-up kept" in lines[1]
    assert fallback_lines(None, "entropy") == []
