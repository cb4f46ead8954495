"""strict_from_dict: the one from_dict of the config dataclasses (unknown keys are an error)."""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import edgefashion.config_dict as config_dict
from edgefashion.config_dict import reject_unknown_keys, strict_from_dict
from edgefashion.data.augment import AugmentConfig
from edgefashion.engine.profiles import ProfileShapes
from edgefashion.engine.settings import BuildSettings
from edgefashion.errors import BadInput
from edgefashion.export.presets import PRESETS, DeployPreset
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.serve.config import ServeConfig
from edgefashion.stream.smoothing import SmoothingConfig
from edgefashion.tag.options import TagOptions
from edgefashion.training.config import RETIRED_KEYS, TrainConfig


@dataclass(frozen=True)
class _Config:
    name: str
    lr: float = 0.1
    sizes: tuple = ()

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise BadInput(f"lr {self.lr} must be > 0")


def test_unknown_key_names_it_the_class_the_valid_keys_and_the_closest_match():
    with pytest.raises(BadInput) as e:
        strict_from_dict(_Config, {"name": "a", "lrr": 0.5}, "test options")
    assert str(e.value) == ("unknown test options 'lrr' (did you mean 'lr'?) for _Config; "
                            "valid: lr, name, sizes")


def test_every_unknown_key_is_named_and_one_without_a_close_match_has_no_suggestion():
    with pytest.raises(BadInput) as e:
        strict_from_dict(_Config, {"name": "a", "zzz": 1, "nme": 2})
    assert str(e.value).startswith("unknown keys 'nme' (did you mean 'name'?), 'zzz' for _Config; ")


@pytest.mark.parametrize("value", [None, [("name", "a")], "name=a", 3])
def test_a_non_mapping_is_bad_input(value):
    with pytest.raises(BadInput, match=f"keys for _Config must be a mapping .*got {type(value).__name__}"):
        strict_from_dict(_Config, value)


def test_a_missing_required_key_is_bad_input_naming_it():
    with pytest.raises(BadInput, match="keys for _Config lack the required 'name'"):
        strict_from_dict(_Config, {"lr": 0.5})


def test_conversions_apply_to_the_keys_present_and_validation_still_runs():
    cfg = strict_from_dict(_Config, {"name": "a", "sizes": [1, 2]}, convert={"sizes": tuple, "lr": float})
    assert cfg == _Config("a", 0.1, (1, 2)) and isinstance(cfg.sizes, tuple)
    assert strict_from_dict(_Config, {"name": "a", "lr": "0.5"}, convert={"lr": float}).lr == 0.5
    with pytest.raises(BadInput, match=r"sizes=3 is malformed \(.*not iterable"):
        strict_from_dict(_Config, {"name": "a", "sizes": 3}, convert={"sizes": tuple})
    with pytest.raises(BadInput, match="lr -1 must be > 0"):  # __post_init__ ran
        strict_from_dict(_Config, {"name": "a", "lr": -1})


def test_retired_keys_are_dropped_and_only_those():
    assert strict_from_dict(_Config, {"name": "a", "old": 1}, retired=("old",)) == _Config("a")
    with pytest.raises(BadInput, match="'olds'"):
        strict_from_dict(_Config, {"name": "a", "olds": 1}, retired=("old",))


def test_reject_unknown_keys_checks_keys_alone():
    reject_unknown_keys(_Config, ["lr"])  # required ones need not be there
    with pytest.raises(BadInput, match="unknown overrides 'lrr' .did you mean 'lr'.. for _Config"):
        reject_unknown_keys(_Config, {"lrr": None}, "overrides")


def test_the_helper_sits_at_the_bottom_of_the_import_graph():
    tree = ast.parse(Path(config_dict.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    ours = {m for m in imported if m.split(".")[0] == "edgefashion"}
    assert ours == {"edgefashion.errors"}
    assert {m.split(".")[0] for m in imported - ours} <= set(sys.stdlib_module_names) | {"__future__"}


# -------------------------------------------------------------------- every config class
_PRESET = PRESETS["orin-fp16"].to_dict()
_SHAPES = {"min": [1, 3], "opt": [8, 3], "max": [32, 3]}
_BUILD = {"onnx": "m.onnx", "output": "m.engine"}

# (class, a valid dict, a mistyped key, the field it should have been)
CONFIGS = [
    (SmoothingConfig, {}, "windw", "window"),
    (PreprocessConfig, {}, "input_sze", "input_size"),
    (BuildSettings, _BUILD, "precison", "precision"),
    (ProfileShapes, _SHAPES, "opts", "opt"),
    (TrainConfig, {}, "lrr", "lr"),
    (ServeConfig, {}, "max_bach", "max_batch"),
    (DeployPreset, _PRESET, "worksapce_mb", "workspace_mb"),
    (AugmentConfig, {}, "brightnes", "brightness"),
    (TagOptions, {}, "batchsize", "batch_size"),
]


@pytest.mark.parametrize("cls, valid, typo, meant", CONFIGS, ids=[c[0].__name__ for c in CONFIGS])
def test_a_mistyped_key_is_bad_input_naming_it(cls, valid, typo, meant):
    cfg = cls.from_dict(valid)
    assert cls.from_dict(cfg.to_dict()) == cfg  # valid input behaves as before
    with pytest.raises(BadInput) as e:
        cls.from_dict({**valid, typo: getattr(cfg, meant)})
    message = str(e.value)
    assert f"'{typo}' (did you mean '{meant}'?)" in message and cls.__name__ in message
    assert f"valid: {', '.join(sorted(cfg.to_dict()))}" in message


def test_train_config_reads_checkpoints_written_before_head_warmup_was_removed():
    old = {**TrainConfig(lr=0.01).to_dict(), "head_warmup": 0.1}
    assert "head_warmup" in RETIRED_KEYS
    assert TrainConfig.from_dict(old) == TrainConfig(lr=0.01)


def test_profile_shapes_still_wants_integer_lists():
    assert ProfileShapes.from_dict(_SHAPES) == ProfileShapes((1, 3), (8, 3), (32, 3))
    with pytest.raises(BadInput, match="min=.*'a'.*is malformed"):
        ProfileShapes.from_dict({**_SHAPES, "min": ["a", 3]})
    with pytest.raises(BadInput, match="lack the required 'max'"):
        ProfileShapes.from_dict({"min": [1], "opt": [1]})
